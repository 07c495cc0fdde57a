// Peer timings for bench/run, on the same input size and thread count as faceid:
//   node bench/peers.js ort MODEL.onnx THREADS RUNS [INPUT.f32 OUTPUT_PREFIX]
//   node bench/peers.js faceapi NET MODEL_DIR THREADS RUNS      (face-api on tfjs-wasm)
//   node bench/peers.js tfjs-graph MODEL.json THREADS RUNS      (human's graph on tfjs-wasm)
//   node bench/peers.js faceapi-pipeline RAW640x480.rgb MODEL_DIR ssd|tiny THREADS RUNS
//   node bench/peers.js faceapi-frame RAW640x480.rgb MODEL_DIR THREADS RUNS
// Prints one JSON line: {"peer":…, "median_ms":…, "min_ms":…}.
// Run with NODE_PATH=.cache/peers/node_modules.
'use strict';
const fs = require('fs');
const path = require('path');
const { loadGraphModel } = require('../tests/oracle/graph_model.js');

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { median_ms: s[Math.floor(s.length / 2)], min_ms: s[0] };
}

async function timeIt(runs, fn) {
  for (let i = 0; i < 3; i++) await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return stats(times);
}

async function ort(model, threads, runs, inputFile, outPrefix) {
  const ortlib = require('onnxruntime-node');
  const session = await ortlib.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const meta = session.inputNames[0];
  const dims = JSON.parse(fs.readFileSync(model + '.json', 'utf8')).input;
  const count = dims.reduce((a, b) => a * b, 1);
  const data = inputFile ? new Float32Array(fs.readFileSync(inputFile).buffer.slice(0)) : Float32Array.from({ length: count }, (_, i) => (i * 2654435761 % 4294967296) % 256);
  const feeds = { [meta]: new ortlib.Tensor('float32', data, dims) };
  const r = await timeIt(runs, () => session.run(feeds));
  if (outPrefix) {
    const out = await session.run(feeds);
    for (const name of session.outputNames) fs.writeFileSync(`${outPrefix}.${name}.f32`, Buffer.from(out[name].data.buffer));
  }
  return { peer: 'onnxruntime-node', ...r };
}

async function tfjsBackend(threads) {
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  return tf;
}

async function faceapiNet(name, modelDir, threads, runs) {
  const tf = await tfjsBackend(threads);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const nets = {
    recognition: [faceapi.nets.faceRecognitionNet, 150],
    landmark68: [faceapi.nets.faceLandmark68Net, 112],
    tiny_face_detector: [faceapi.nets.tinyFaceDetector, 416],
    ssd_mobilenetv1: [faceapi.nets.ssdMobilenetv1, 512],
  };
  const [net, size] = nets[name];
  await net.loadFromDisk(path.join(modelDir, 'face-api'));
  const x = tf.tensor4d(Float32Array.from({ length: size * size * 3 }, (_, i) => i % 256), [1, size, size, 3]);
  const input = await faceapi.toNetInput(x);
  const run = async () => {
    let out;
    if (name === 'tiny_face_detector') out = net.forwardInput(input, size);
    else if (name === 'landmark68') out = net.runNet(input);
    else if (name === 'ssd_mobilenetv1') out = net.forwardInput(input).scores[0];
    else out = net.forwardInput(input);
    await out.data();
    tf.dispose(out);
  };
  return { peer: `face-api tfjs-wasm ${tf.getBackend()} (${faceapiThreads(threads)})`, ...(await timeIt(runs, run)) };
}

function faceapiThreads(threads) { return `${threads} thread${threads > 1 ? 's' : ''}`; }

async function tfjsGraph(jsonPath, threads, runs) {
  const tf = await tfjsBackend(threads);
  const model = await loadGraphModel(tf, jsonPath);
  const shape = model.inputs[0].shape.map((d) => (d > 0 ? d : 1));
  const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 256) / 255), shape);
  const run = async () => {
    let out = model.execute(x);
    if (!Array.isArray(out)) out = [out];
    await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
  };
  return { peer: `tfjs-wasm (${faceapiThreads(threads)})`, ...(await timeIt(runs, run)) };
}

// face-api's full pipeline on a raw 640x480 RGB file: SSD (or tiny) + 68 landmarks + descriptors.
async function faceapiPipeline(rawFile, modelDir, detector, threads, runs) {
  const tf = await tfjsBackend(threads);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const dir = path.join(modelDir, 'face-api');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
  const x = tf.tensor3d(Float32Array.from(fs.readFileSync(rawFile)), [480, 640, 3]);
  const options = detector === 'tiny' ? new faceapi.TinyFaceDetectorOptions() : new faceapi.SsdMobilenetv1Options();
  const run = async () => faceapi.detectSingleFace(x, options).withFaceLandmarks().withFaceDescriptor();
  return { peer: `face-api ${detector} pipeline tfjs-wasm`, ...(await timeIt(runs, run)) };
}

// face-api's live loop as its users write it: every face of every frame detected, landmarked and
// described (no tracker), on one 640x480 frame.
async function faceapiFrame(rawFile, modelDir, threads, runs) {
  const tf = await tfjsBackend(threads);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const dir = path.join(modelDir, 'face-api');
  await faceapi.nets.tinyFaceDetector.loadFromDisk(dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
  const x = tf.tensor3d(Float32Array.from(fs.readFileSync(rawFile)), [480, 640, 3]);
  let faces = 0;
  const run = async () => { faces = (await faceapi.detectAllFaces(x, new faceapi.TinyFaceDetectorOptions()).withFaceLandmarks().withFaceDescriptors()).length; };
  const r = await timeIt(runs, run);
  return { peer: 'face-api tiny, all faces, tfjs-wasm', faces, ...r };
}

async function main() {
  const [mode, ...a] = process.argv.slice(2);
  let r;
  if (mode === 'ort') r = await ort(a[0], +a[1], +a[2], a[3], a[4]);
  else if (mode === 'faceapi') r = await faceapiNet(a[0], a[1], +a[2], +a[3]);
  else if (mode === 'tfjs-graph') r = await tfjsGraph(a[0], +a[1], +a[2]);
  else if (mode === 'faceapi-frame') r = await faceapiFrame(a[0], a[1], +a[2], +a[3]);
  else if (mode === 'faceapi-pipeline') r = await faceapiPipeline(a[0], a[1], a[2], +a[3], +a[4]);
  else throw new Error(`unknown mode ${mode}`);
  console.log(JSON.stringify(r));
}

main().catch((e) => { console.error(`peers.js: ${e.message}`); process.exit(1); });
