// The anchor for make eval's identification tables: face-api's own pipeline (SSD-MobileNet-v1,
// 68 landmarks, FaceRecognitionNet; its defaults: minConfidence 0.5, the whole image) on
// tfjs-wasm, on images eval.py decoded to raw RGB. Writes one JSON line per image: the faces'
// boxes and descriptors, which eval.py matches at face-api's documented 0.6 (FaceMatcher).
//   NODE_PATH=.cache/peers/node_modules node eval/faceapi_anchor.js MODEL_DIR INDEX.json OUT.jsonl
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [modelDir, indexFile, outFile] = process.argv.slice(2);
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  await tf.setBackend('wasm');
  await tf.ready();
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const dir = path.join(modelDir, 'face-api');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
  const out = fs.openSync(outFile, 'w');
  for (const img of JSON.parse(fs.readFileSync(indexFile, 'utf8'))) {
    const x = tf.tensor3d(Float32Array.from(fs.readFileSync(img.raw)), [img.height, img.width, 3]);
    const faces = await faceapi.detectAllFaces(x, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 }))
      .withFaceLandmarks().withFaceDescriptors();
    tf.dispose(x);
    fs.writeSync(out, JSON.stringify({
      key: img.key,
      faces: faces.map((f) => ({
        box: [f.detection.box.x, f.detection.box.y, f.detection.box.width, f.detection.box.height],
        score: f.detection.score,
        descriptor: Array.from(f.descriptor),
      })),
    }) + '\n');
  }
  fs.closeSync(out);
}

main().catch((e) => { console.error(e); process.exit(1); });
