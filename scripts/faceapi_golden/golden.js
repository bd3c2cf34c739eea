// Runs the ORIGINAL face-api.js expression network (package build dist/face-api.node-wasm.js on
// @tensorflow/tfjs + the WASM backend) on raw uint8 RGB images and writes its outputs.
//   node golden.js IN.json OUT.json
// IN.json: {"images": [{"h": H, "w": W, "file": "raw uint8 HxWx3 path"}, ...]}
// OUT.json: {"probs": [[7 floats], ...], "features": [[256 floats], ...], "backend": ..., versions}
// Each image goes in as a Tensor3D, so face-api's own toBatchTensor pads it to square (centred)
// and resizes it to 112 px, exactly as in an application.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

async function main() {
  const [inPath, outPath] = process.argv.slice(2);
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  const pkgDir = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
  await faceapi.nets.faceExpressionNet.loadFromDisk(path.join(pkgDir, 'model'));
  const spec = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  const inputs = spec.images.map((im) => faceapi.tf.tensor3d(
    new Uint8Array(fs.readFileSync(im.file)), [im.h, im.w, 3], 'int32'));
  const net = faceapi.nets.faceExpressionNet;
  const probs = await net.forward(inputs);
  const feats = await net.faceFeatureExtractor.forward(inputs);
  const out = {
    probs: await probs.array(),
    features: (await feats.reshape([inputs.length, -1]).array()),
    backend: faceapi.tf.getBackend(),
    face_api_version: faceapi.version,
    tfjs_version: tf.version.tfjs,
    head_classes: ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'],
  };
  fs.writeFileSync(outPath, JSON.stringify(out));
  console.log(`${inputs.length} images, backend ${out.backend}, face-api ${out.face_api_version}, tfjs ${out.tfjs_version}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
