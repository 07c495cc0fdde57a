// Golden outputs from the original JavaScript implementations (face-api 1.7.15 and human 3.3.6's
// models on @tensorflow/tfjs 4.22, cpu backend: plain float32 JS kernels) for fixed synthetic
// inputs that tests/nn_golden.c regenerates bit for bit (tests/synth_image.h).
//
//   NODE_PATH=.cache/peers/node_modules node tests/oracle/golden.js MODEL_DIR OUT_DIR
//
// Writes OUT_DIR/<case>.json (metadata) and OUT_DIR/<case>.<output>.f32 (little-endian float32).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { loadGraphModel } = require('./graph_model.js');

// Same generator as tests/synth_image.h: xorshift32 noise over channel-dependent gradients,
// integer pixel values 0..255 so both sides see identical float inputs.
function synthImage(h, w, seed) {
  const data = new Float32Array(h * w * 3);
  let s = seed >>> 0;
  let i = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        s ^= s << 13; s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5; s >>>= 0;
        const base = Math.floor((Math.floor((x * 255 * (c + 1)) / Math.max(w - 1, 1)) + Math.floor((y * 255 * (3 - c)) / Math.max(h - 1, 1))) / 4);
        data[i++] = Math.min(255, base + (s % 48));
      }
    }
  }
  return data;
}

function writeCase(outDir, name, model, size, seed, scale, outputs) {
  const meta = { model, input: { shape: [1, size, size, 3], seed, scale }, outputs: {} };
  for (const [key, { shape, data }] of Object.entries(outputs)) {
    const file = `${name}.${key.replace(/[^A-Za-z0-9_]/g, '_')}.f32`;
    fs.writeFileSync(path.join(outDir, file), Buffer.from(new Float32Array(data).buffer));
    meta.outputs[key] = { shape, file };
  }
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(meta, null, 1) + '\n');
  console.log(`golden ${name}: ${Object.keys(outputs).join(', ')}`);
}

async function faceapiCases(modelDir, outDir) {
  const dir = path.join(modelDir, 'face-api');
  const nets = faceapi.nets;
  const cases = [
    ['faceapi_recognition', 'face_recognition_model', nets.faceRecognitionNet, 150, 11],
    ['faceapi_landmark68', 'face_landmark_68_model', nets.faceLandmark68Net, 112, 12],
    ['faceapi_landmark68_tiny', 'face_landmark_68_tiny_model', nets.faceLandmark68TinyNet, 112, 13],
    ['faceapi_tiny_face_detector', 'tiny_face_detector_model', nets.tinyFaceDetector, 416, 14],
    ['faceapi_ssd_mobilenetv1', 'ssd_mobilenetv1_model', nets.ssdMobilenetv1, 512, 15],
  ];
  for (const [name, file, net, size, seed] of cases) {
    await net.loadFromDisk(dir);
    const x = tf.tensor4d(synthImage(size, size, seed), [1, size, size, 3]);
    const input = await faceapi.toNetInput(x);
    const outputs = {};
    if (file === 'ssd_mobilenetv1_model') {
      const { boxes, scores } = net.forwardInput(input);
      outputs.boxes = { shape: boxes[0].shape, data: boxes[0].dataSync() };
      outputs.scores = { shape: scores[0].shape, data: scores[0].dataSync() };
    } else if (file === 'tiny_face_detector_model') {
      const out = net.forwardInput(input, size);
      outputs.grid = { shape: out.shape, data: out.dataSync() };
    } else if (file.startsWith('face_landmark')) {
      const out = net.runNet(input);
      outputs.landmarks = { shape: out.shape, data: out.dataSync() };
    } else {
      const out = net.forwardInput(input);
      outputs.descriptor = { shape: out.shape, data: out.dataSync() };
    }
    writeCase(outDir, name, `face-api/${file}-weights_manifest.json`, size, seed, 1, outputs);
  }
}

async function humanCases(modelDir, outDir) {
  const cases = [
    ['human_blazeface', 'blazeface', 21],
    ['human_faceres', 'faceres', 22],
    ['human_antispoof', 'antispoof', 23],
    ['human_liveness', 'liveness', 24],
  ];
  for (const [name, file, seed] of cases) {
    const jsonPath = path.join(modelDir, 'human', `${file}.json`);
    const model = await loadGraphModel(tf, jsonPath);
    const size = model.inputs[0].shape[1];
    // human feeds these models pixels scaled to 0..1 (raw 0..255 saturates their outputs).
    const scale = 1 / 255;
    const x = tf.tensor4d(synthImage(size, size, seed).map((v) => v * scale), [1, size, size, 3]);
    const names = model.outputs.map((o) => o.name);
    let results = model.execute(x, names);
    if (!Array.isArray(results)) results = [results];
    const outputs = {};
    names.forEach((n, i) => { outputs[n] = { shape: results[i].shape, data: results[i].dataSync() }; });
    writeCase(outDir, name, `human/${file}.json`, size, seed, scale, outputs);
  }
}

async function main() {
  const [modelDir, outDir] = process.argv.slice(2);
  if (!modelDir || !outDir) {
    console.error('usage: node tests/oracle/golden.js MODEL_DIR OUT_DIR');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  await tf.ready();
  fs.mkdirSync(outDir, { recursive: true });
  await faceapiCases(modelDir, outDir);
  await humanCases(modelDir, outDir);
}

main().catch((e) => { console.error(e); process.exit(1); });
