// KVS WebRTC signaling end to end with the official JS SDK (amazon-kinesis-video-streams-webrtc,
// its browser bundle): a MASTER and a VIEWER, each in its own headless Chromium process with a
// fake camera, meet through a signaling channel's WSS endpoint. The viewer sends the offer, the
// master answers, both trickle ICE candidates. By default host candidates on this machine are
// enough, so no STUN/TURN server is configured. Prints one JSON line: the ICE connection states
// each side saw, the candidates each gathered and the candidate pair ICE selected, ICE candidate
// errors (a TURN server that refused an allocation), what the viewer decoded (frames, size),
// signaling errors and page errors.
//
// Usage: node webrtc.mjs --arn ARN --master-endpoint wss://... --viewer-endpoint wss://...
//          [--access-key-id ID --secret-access-key KEY] [--region us-east-1] [--seconds 30]
//          [--replace-master] [--master-ice-servers JSON] [--viewer-ice-servers JSON] [--relay]
// --replace-master: a first master connects, then a second master on the same channel; the first
// must be closed by the server, and the viewer then meets the second.
// --master-ice-servers, --viewer-ice-servers: that peer's RTCPeerConnection iceServers, a JSON
// array of RTCIceServer ({urls, username, credential}: GetIceServerConfig's Uris, Username,
// Password); default [].
// --relay: iceTransportPolicy 'relay' on both peers, so only TURN relay candidates are gathered
// and a call connects only through a TURN server.
// --storage SECONDS: no viewer; the master (camera and microphone) answers whoever offers, as a
// master answers a storage session's offer after JoinStorageSession, and once ICE connects sends
// media for SECONDS more. The report adds what the master sent (outbound video codec, frames).
// --storage-viewer CLIENTID (with --storage): also a viewer with that ClientId that sends no
// offer but answers one, as a viewer answers the storage session's offer after
// JoinStorageSessionAsViewer; the run waits for it to decode frames too.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opt } = parseArgs({
  options: {
    arn: { type: 'string' },
    'master-endpoint': { type: 'string' },
    'viewer-endpoint': { type: 'string' },
    'access-key-id': { type: 'string', default: 'AKIDDUMMY' },
    'secret-access-key': { type: 'string', default: 'dummysecret' },
    region: { type: 'string', default: 'us-east-1' },
    seconds: { type: 'string', default: '30' },
    'replace-master': { type: 'boolean', default: false },
    'master-ice-servers': { type: 'string', default: '[]' },
    'viewer-ice-servers': { type: 'string', default: '[]' },
    relay: { type: 'boolean', default: false },
    storage: { type: 'string' },
    'storage-viewer': { type: 'string' },
  },
});
for (const k of ['arn', 'master-endpoint', ...(opt.storage ? [] : ['viewer-endpoint'])]) {
  if (!opt[k]) {
    console.error(`--${k} is required`);
    process.exit(2);
  }
}
const deadline = Date.now() + Number(opt.seconds) * 1000;
const common = {
  channelARN: opt.arn,
  region: opt.region,
  credentials: { accessKeyId: opt['access-key-id'], secretAccessKey: opt['secret-access-key'] },
};
// Each peer's RTCPeerConnection configuration.
const rtcConfig = (iceServers) => ({
  iceServers: JSON.parse(iceServers),
  iceTransportPolicy: opt.relay ? 'relay' : 'all',
});

// The page is served from http://127.0.0.1 (a secure context, so the SDK's SigV4 signer has
// crypto.subtle); nothing else is loaded.
const bundle = readFileSync(new URL('./node_modules/amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js',
  import.meta.url));
const page = '<!doctype html><meta charset="utf-8"><title>kvs webrtc</title>'
  + '<script src="/kvs-webrtc.min.js"></script><video id="remote" autoplay playsinline muted></video>';
const web = http.createServer((req, res) => {
  if (req.url === '/kvs-webrtc.min.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  } else if (req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${web.address().port}/`;

// In-page code (serialized by Playwright, so self-contained). Each flow records into window.peer.

// Installed in every page before the flows run: window.watch(pc, peer) records what ICE does on a
// connection (states, gathered candidate types, candidate errors) into peer; window.selectedPair()
// reads from getStats the candidate pair ICE selected on window.pc: the transport's
// selectedCandidatePairId, that candidate-pair, and its local and remote candidates.
function pageHelpers() {
  window.watch = (pc, peer) => {
    Object.assign(peer, { candidates: [], candidateErrors: [] });
    pc.addEventListener('iceconnectionstatechange', () => peer.ice.push(pc.iceConnectionState));
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) peer.candidates.push(candidate.type);
    });
    pc.addEventListener('icecandidateerror', (e) => peer.candidateErrors.push({
      url: e.url, errorCode: e.errorCode, errorText: e.errorText, address: e.address, port: e.port,
    }));
  };
  window.selectedPair = async () => {
    if (!window.pc) return null;
    const stats = new Map();
    (await window.pc.getStats()).forEach((s) => stats.set(s.id, s));
    const transport = [...stats.values()].find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = transport && stats.get(transport.selectedCandidatePairId);
    if (!pair) return null;
    const candidate = (id) => {
      const c = stats.get(id) ?? {};
      return {
        candidateType: c.candidateType, address: c.address, port: c.port, protocol: c.protocol,
        relayProtocol: c.relayProtocol, url: c.url,
      };
    };
    return {
      state: pair.state, nominated: pair.nominated,
      local: candidate(pair.localCandidateId), remote: candidate(pair.remoteCandidateId),
    };
  };
}

async function masterFlow({ rtc, audio = false, ...cfg }) {
  const { SignalingClient, Role } = window.KVSWebRTC;
  const peer = window.peer = { role: 'MASTER', ice: [], errors: [], opened: false, closed: false, viewers: [] };
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio });
  const signaling = window.signaling = new SignalingClient({ ...cfg, role: Role.MASTER });
  const peers = {};
  signaling.on('sdpOffer', async (offer, viewerId) => {
    try {
      peer.viewers.push(viewerId);
      // window.pc: the newest viewer's connection (the tests have one viewer).
      const pc = peers[viewerId] = window.pc = new RTCPeerConnection(rtc);
      window.watch(pc, peer);
      pc.addEventListener('icecandidate', ({ candidate }) => {
        if (candidate) signaling.sendIceCandidate(candidate, viewerId);
      });
      stream.getTracks().forEach((track) => pc.addTrack(track, stream));
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      signaling.sendSdpAnswer(pc.localDescription, viewerId);
    } catch (e) {
      peer.errors.push(`answer: ${e}`);
    }
  });
  signaling.on('iceCandidate', (candidate, viewerId) => {
    const pc = peers[viewerId];
    if (!pc) return peer.errors.push(`candidate from unknown viewer ${viewerId}`);
    pc.addIceCandidate(candidate).catch((e) => peer.errors.push(`addIceCandidate: ${e}`));
  });
  signaling.on('statusResponse', (s) => peer.errors.push(`statusResponse: ${JSON.stringify(s)}`));
  signaling.on('close', () => { peer.closed = true; });
  await new Promise((resolve, reject) => {
    signaling.on('open', () => { peer.opened = true; resolve(); });
    signaling.on('error', (e) => { peer.errors.push(`signaling: ${e?.message ?? e?.type ?? e}`); reject(e); });
    signaling.open();
  }).catch(() => {});
  return peer;
}

// A viewer: by default it offers to receive video once its signaling connection opens; with
// `answer` it sends no offer but answers one, as a viewer answers a storage session's offer
// (peer.offers: who each came from).
async function viewerFlow({ rtc, answer = false, ...cfg }) {
  const { SignalingClient, Role } = window.KVSWebRTC;
  const peer = window.peer = { role: 'VIEWER', ice: [], errors: [], opened: false, closed: false, offers: [] };
  const signaling = window.signaling = new SignalingClient({ ...cfg, role: Role.VIEWER });
  const pc = window.pc = new RTCPeerConnection(rtc);
  window.watch(pc, peer);
  pc.addEventListener('icecandidate', ({ candidate }) => {
    if (candidate) signaling.sendIceCandidate(candidate);
  });
  pc.addEventListener('track', ({ streams, track }) => {
    if (track.kind === 'video') document.getElementById('remote').srcObject = streams[0] ?? new MediaStream([track]);
  });
  if (answer) {
    signaling.on('open', () => { peer.opened = true; });
    signaling.on('sdpOffer', async (offer, senderClientId) => {
      peer.offers.push(senderClientId ?? null);
      try {
        await pc.setRemoteDescription(offer);
        await pc.setLocalDescription(await pc.createAnswer());
        signaling.sendSdpAnswer(pc.localDescription);
      } catch (e) {
        peer.errors.push(`answer: ${e}`);
      }
    });
  } else {
    pc.addTransceiver('video', { direction: 'recvonly' });
    signaling.on('open', async () => {
      peer.opened = true;
      try {
        await pc.setLocalDescription(await pc.createOffer());
        signaling.sendSdpOffer(pc.localDescription);
      } catch (e) {
        peer.errors.push(`offer: ${e}`);
      }
    });
    signaling.on('sdpAnswer', (sdpAnswer) => {
      pc.setRemoteDescription(sdpAnswer).catch((e) => peer.errors.push(`setRemoteDescription: ${e}`));
    });
  }
  signaling.on('iceCandidate', (candidate) => {
    pc.addIceCandidate(candidate).catch((e) => peer.errors.push(`addIceCandidate: ${e}`));
  });
  signaling.on('statusResponse', (s) => peer.errors.push(`statusResponse: ${JSON.stringify(s)}`));
  signaling.on('error', (e) => peer.errors.push(`signaling: ${e?.message ?? e?.type ?? e}`));
  signaling.on('close', () => { peer.closed = true; });
  signaling.open();
}

async function viewerStats() {
  const video = { framesDecoded: 0, width: 0, height: 0 };
  if (window.pc) {
    (await window.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        video.framesDecoded = s.framesDecoded ?? 0;
        video.width = s.frameWidth ?? 0;
        video.height = s.frameHeight ?? 0;
      }
    });
  }
  const el = document.getElementById('remote');
  video.element = [el.videoWidth, el.videoHeight];
  return { ...window.peer, selectedPair: await window.selectedPair(), video };
}

// What the master sent on window.pc: its outbound video's codec and frame count.
async function masterStats() {
  const sent = { codec: null, framesEncoded: 0, width: 0, height: 0, audioPackets: 0 };
  if (window.pc) {
    const stats = new Map();
    (await window.pc.getStats()).forEach((s) => stats.set(s.id, s));
    for (const s of stats.values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        sent.codec = stats.get(s.codecId)?.mimeType ?? null;
        sent.framesEncoded = s.framesEncoded ?? 0;
        sent.width = s.frameWidth ?? 0;
        sent.height = s.frameHeight ?? 0;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'audio') sent.audioPackets = s.packetsSent ?? 0;
    }
  }
  return { ...window.peer, selectedPair: await window.selectedPair(), sent };
}

// Two Chromium processes; the fake camera and permission prompts auto-accepted, self-signed WSS.
const args = [
  '--no-sandbox', '--disable-gpu', '--ignore-certificate-errors',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  // Real host addresses in candidates (not mDNS names that need multicast to resolve), and the
  // loopback interface usable where it is the only one.
  '--disable-features=WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection',
];
const launch = () => chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
const result = { pageErrors: [] };
const browsers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function openPage(browser, name) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const p = await context.newPage();
  p.on('pageerror', (e) => result.pageErrors.push(`${name}: ${e}`));
  await p.addInitScript(pageHelpers);
  await p.goto(pageUrl);
  return p;
}
async function until(what, check) {
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(200);
  }
  result.timedOut = what;
  return false;
}

// The master alone, answering a storage session (--storage).
async function storageFlow() {
  const browser = await launch();
  browsers.push(browser);
  const master = await openPage(browser, 'master');
  result.master = await master.evaluate(masterFlow, {
    ...common, channelEndpoint: opt['master-endpoint'], rtc: rtcConfig(opt['master-ice-servers']), audio: true,
  });
  let viewer = null;
  if (opt['storage-viewer']) {
    viewer = await openPage(await launch().then((b) => { browsers.push(b); return b; }), 'viewer');
    await viewer.evaluate(viewerFlow, {
      ...common, answer: true, channelEndpoint: opt['viewer-endpoint'] ?? opt['master-endpoint'], clientId: opt['storage-viewer'],
      rtc: rtcConfig(opt['viewer-ice-servers']),
    });
  }
  const connected = await until('ICE connected', () => master.evaluate(
    () => ['connected', 'completed'].includes(window.pc?.iceConnectionState) || window.peer.closed,
  ));
  if (connected && viewer) {
    await until('viewer frames decoded', async () => {
      const v = await viewer.evaluate(viewerStats);
      return (v.video.framesDecoded > 0 && v.video.width > 0) || v.closed;
    });
  }
  if (connected) await sleep(Number(opt.storage) * 1000);
  result.master = await master.evaluate(masterStats);
  if (viewer) result.viewer = await viewer.evaluate(viewerStats);
}

// A master and a viewer meeting through the channel.
async function callFlow() {
  const [masterBrowser, viewerBrowser] = await Promise.all([launch(), launch()]);
  browsers.push(masterBrowser, viewerBrowser);
  const masterCfg = {
    ...common, channelEndpoint: opt['master-endpoint'], rtc: rtcConfig(opt['master-ice-servers']),
  };
  let master;
  if (opt['replace-master']) {
    const first = await openPage(masterBrowser, 'first master');
    result.firstMaster = await first.evaluate(masterFlow, masterCfg);
    master = await openPage(masterBrowser, 'master');
    result.master = await master.evaluate(masterFlow, masterCfg);
    const t0 = Date.now();
    await until('the first master closed', () => first.evaluate(() => window.peer.closed));
    result.firstMaster = await first.evaluate(() => window.peer);
    result.firstMaster.closedAfterMs = Date.now() - t0;
  } else {
    master = await openPage(masterBrowser, 'master');
    result.master = await master.evaluate(masterFlow, masterCfg);
  }
  const viewer = await openPage(viewerBrowser, 'viewer');
  await viewer.evaluate(viewerFlow, {
    ...common, channelEndpoint: opt['viewer-endpoint'], clientId: `viewer-${process.pid}`,
    rtc: rtcConfig(opt['viewer-ice-servers']),
  });
  // Until frames are decoded and their size known (then one more second of video), or the
  // viewer's signaling connection is refused or closed.
  let decoding = false;
  await until('frames decoded', async () => {
    const v = await viewer.evaluate(viewerStats);
    decoding = v.video.framesDecoded > 0 && v.video.width > 0;
    return decoding || v.closed;
  });
  if (decoding) await sleep(1000);
  result.master = await master.evaluate(masterStats);
  result.viewer = await viewer.evaluate(viewerStats);
}

try {
  await (opt.storage ? storageFlow() : callFlow());
} catch (e) {
  result.error = String(e?.stack ?? e);
} finally {
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  web.close();
}
console.log(JSON.stringify(result));
