// Golden face pipeline from face-api 1.7.15 itself (tfjs cpu backend): SSD-MobileNet-v1
// detections, 68 landmarks, dlib-style aligned boxes and 128-d descriptors, plus Tiny Face
// Detector boxes, for images decoded to raw RGB by tests/oracle/decode.py.
//   NODE_PATH=.cache/peers/node_modules node tests/oracle/faces.js MODEL_DIR RAW_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const round = (v, d = 4) => Math.round(v * 10 ** d) / 10 ** d;
const box = (b) => [b.x, b.y, b.width, b.height].map((v) => round(v));

async function main() {
  const [modelDir, rawDir, outDir] = process.argv.slice(2);
  await tf.setBackend('cpu');
  await tf.ready();
  const dir = path.join(modelDir, 'face-api');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
  fs.mkdirSync(outDir, { recursive: true });
  for (const img of JSON.parse(fs.readFileSync(path.join(rawDir, 'index.json'), 'utf8'))) {
    const raw = fs.readFileSync(path.join(rawDir, `${img.name}.rgb`));
    const x = tf.tensor3d(Float32Array.from(raw), [img.height, img.width, 3]);
    const ssd = await faceapi.detectAllFaces(x, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 }))
      .withFaceLandmarks().withFaceDescriptors();
    const tiny = await faceapi.detectAllFaces(x, new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 }));
    const out = {
      image: img.file, width: img.width, height: img.height, sha256: img.sha256,
      ssd: ssd.map((f) => ({
        box: box(f.detection.box),
        score: round(f.detection.score, 6),
        landmarks: f.landmarks.positions.map((p) => [round(p.x), round(p.y)]),
        aligned: box(f.alignedRect.box),
        descriptor: Array.from(f.descriptor).map((v) => round(v, 7)),
      })),
      tiny: tiny.map((d) => ({ box: box(d.box), score: round(d.score, 6) })),
    };
    fs.writeFileSync(path.join(outDir, `${img.name}.json`), JSON.stringify(out) + '\n');
    console.log(`${img.file}: ${out.ssd.length} faces (SSD), ${out.tiny.length} (tiny)`);
    tf.dispose(x);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
