// The latency tail of a saturated Node process with nothing of ours in it: a bare node:http
// server that spends about what the platform spends on a cached list (300 µs of CPU) and
// sends a 5 KB JSON body. docs/benchmarks.md compares its wrk figures with the platform's.
//
//   BACKLOG=511 node bench/bare-tail.mjs &
//   wrk -t2 -c500 -d10s --timeout 10s http://127.0.0.1:19555/ --latency
//
// While wrk runs, `ss -ltn 'sport = :19555'` shows the connections still waiting in the accept
// queue (Recv-Q), and `strace -p <pid> -e trace=accept4,epoll_pwait` one accept per turn of
// the event loop: the tail is the admission of wrk's burst of connections (docs/benchmarks.md).
import http from 'node:http';

// CPU_MS sets it: docs/benchmarks.md measures the same server behind HAProxy at several costs.
const CPU_MS = Number(process.env.CPU_MS ?? 0.3);
if (!(CPU_MS >= 0))
  throw new Error(`bare-tail: CPU_MS must be a number of ms >= 0, got ${process.env.CPU_MS}`);
const body = JSON.stringify({
  items: Array.from({ length: 20 }, (_, id) => ({
    id,
    name: `model ${id}`,
    riskLevel: 'low',
    description: 'x'.repeat(200),
  })),
});

http
  .createServer((_req, res) => {
    // Busy on purpose: the CPU a request costs, without any I/O to wait for.
    const until = performance.now() + CPU_MS;
    while (performance.now() < until);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  })
  .listen({
    port: Number(process.env.PORT ?? 19555),
    host: '127.0.0.1',
    backlog: Number(process.env.BACKLOG ?? 511),
  });
