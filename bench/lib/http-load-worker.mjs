// The HTTP load generator of bench/lib/http-load.ts, on its own thread so that the server
// under test has its event loop to itself, as it would behind autocannon or wrk. Plain
// JavaScript: Node 20 does not hand tsx's loader on to worker threads.
import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';

const agents = new Map();
function agentFor(concurrency) {
  let agent = agents.get(concurrency);
  if (agent === undefined) {
    agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    agents.set(concurrency, agent);
  }
  return agent;
}

// One request, its body read to the end but not decoded, so the client costs every server
// the same whatever the encoding. Resolves the body's size, or -1 for a status that is not
// 2xx, so a server that answers errors fast cannot pass for a fast server.
function get(agent, target) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: target.port, path: target.path, agent, headers: target.headers },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk) => {
          bytes += chunk.length;
        });
        res.on('end', () => resolve(res.statusCode >= 200 && res.statusCode < 300 ? bytes : -1));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

parentPort.on('message', async (job) => {
  if (job.type === 'close') {
    for (const agent of agents.values()) agent.destroy();
    parentPort.close();
    return;
  }
  try {
    const agent = agentFor(job.concurrency);
    const deadline = performance.now() + job.seconds * 1000;
    let requests = 0;
    let bytes = 0;
    let failed = 0;
    const loop = async () => {
      while (performance.now() < deadline) {
        // Awaited first: `bytes += await ...` would read bytes before the wait and lose the
        // other loops' additions.
        const received = await get(agent, job);
        if (received < 0) failed++;
        else bytes += received;
        requests++;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: job.concurrency }, loop));
    const seconds = (performance.now() - started) / 1000;
    parentPort.postMessage({ id: job.id, requests, seconds, bytes, failed });
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: String(error?.stack ?? error) });
  }
});
