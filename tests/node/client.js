#!/usr/bin/env node
// A Sluice gateway written from protos/ alone, with @grpc/grpc-js and @grpc/proto-loader: it
// proves a non-Python gRPC stack can speak the wire contract.
//
// It opens one Ingest.Stream, sends --batches ReadingBatch messages of --readings readings with
// one session_id and increasing seq, half-closes, collects the Acks, then calls the unary Push
// once with the next seq. It prints a JSON summary on stdout and exits 0 when both calls end
// with status OK, 1 when a call fails (the gRPC status goes to stderr), 2 on bad arguments.
//
//   node tests/node/client.js --target 127.0.0.1:50051 [--batches 10] [--readings 100]
//        [--session-id UUID] [--source-id ID] [--first-seq 1] [--deadline-ms 30000]
'use strict';

const crypto = require('node:crypto');
const events = require('node:events');
const path = require('node:path');
const { createRequire } = require('node:module');
const { parseArgs } = require('node:util');

const REPO = path.resolve(__dirname, '..', '..');
// The pinned packages live in tools/ (installed by `make tools`), not beside this script.
const toolsRequire = createRequire(path.join(REPO, 'tools', 'package.json'));
const grpc = toolsRequire('@grpc/grpc-js');
const protoLoader = toolsRequire('@grpc/proto-loader');

const EXIT_CALL_FAILED = 1;
const EXIT_USAGE = 2;
const DEVICES = 10;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      batches: { type: 'string', default: '10' },
      readings: { type: 'string', default: '100' },
      'session-id': { type: 'string', default: crypto.randomUUID() },
      'source-id': { type: 'string', default: 'node-gateway' },
      'first-seq': { type: 'string', default: '1' },
      'deadline-ms': { type: 'string', default: '30000' },
      protos: { type: 'string', default: path.join(REPO, 'protos') },
    },
    strict: true,
  });
  if (!values.target) {
    throw new Error('--target host:port is required');
  }
  const counts = {};
  for (const name of ['batches', 'readings', 'first-seq', 'deadline-ms']) {
    const n = Number(values[name]);
    if (!Number.isSafeInteger(n) || n < (name === 'batches' ? 0 : 1)) {
      throw new Error(`--${name} must be a positive integer, not ${values[name]}`);
    }
    counts[name] = n;
  }
  return {
    target: values.target,
    batches: counts.batches,
    readings: counts.readings,
    sessionId: values['session-id'],
    sourceId: values['source-id'],
    firstSeq: counts['first-seq'],
    deadlineMs: counts['deadline-ms'],
    protos: values.protos,
  };
}

function loadIngestService(protosDir) {
  const definition = protoLoader.loadSync('sluice/v1/ingest.proto', {
    includeDirs: [protosDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).sluice.v1.Ingest;
}

function makeBatch(options, seq) {
  // int64 nanoseconds do not fit a JS number; proto-loader takes them as decimal strings.
  const nowNanos = (BigInt(Date.now()) * 1_000_000n).toString();
  const readings = [];
  for (let i = 0; i < options.readings; i++) {
    readings.push({
      device_id: `node-dev-${i % DEVICES}`,
      time_unix_nano: nowNanos,
      metric: 'temperature',
      value: 20 + (i % 10) / 10,
      tags: { client: 'node', batch: String(seq) },
      location: { lat: 52.52, lon: 13.405 },
    });
  }
  return {
    seq: String(seq),
    source_id: options.sourceId,
    session_id: options.sessionId,
    readings,
  };
}

function describeAck(ack) {
  return {
    seq: Number(ack.seq),
    status: ack.status,
    accepted: ack.accepted,
    reason: ack.reason,
    retry_after_ms: ack.retry_after_ms,
    rejections: ack.rejections.length,
  };
}

function statusName(code) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code) ?? String(code);
}

function callError(rpc, error) {
  const wrapped = new Error(`${rpc} failed: ${statusName(error.code)} (${error.code}): ${error.details}`);
  wrapped.rpc = rpc;
  wrapped.code = error.code;
  return wrapped;
}

// Resolves with every Ack once the server ends the call with OK. On any other status it
// rejects with an error that carries the Acks received before the failure.
function runStream(client, options) {
  const call = client.Stream({ deadline: Date.now() + options.deadlineMs });
  const acks = [];
  call.on('data', (ack) => acks.push(describeAck(ack)));
  const finished = new Promise((resolve, reject) => {
    let ended = false;
    let ok = false;
    const settle = () => ended && ok && resolve(acks);
    call.on('error', (error) => reject(Object.assign(callError('Stream', error), { acks })));
    call.on('end', () => {
      ended = true;
      settle();
    });
    call.on('status', (status) => {
      ok = status.code === grpc.status.OK;
      settle();
    });
  });
  const written = (async () => {
    for (let b = 0; b < options.batches; b++) {
      if (!call.write(makeBatch(options, options.firstSeq + b))) {
        await events.once(call, 'drain');
      }
    }
    call.end();
  })().catch(() => {}); // a failed write ends the call, and `finished` reports its status
  return Promise.all([written, finished]).then(([, received]) => received);
}

function runPush(client, options, seq) {
  return new Promise((resolve, reject) => {
    client.Push(
      makeBatch(options, seq),
      { deadline: Date.now() + options.deadlineMs },
      (error, ack) => (error ? reject(callError('Push', error)) : resolve(describeAck(ack))),
    );
  });
}

function summarise(options, acks) {
  const byStatus = {};
  let accepted = 0;
  for (const ack of acks) {
    byStatus[ack.status] = (byStatus[ack.status] ?? 0) + 1;
    accepted += ack.accepted;
  }
  return {
    target: options.target,
    session_id: options.sessionId,
    batches_sent: options.batches,
    readings_per_batch: options.readings,
    stream: {
      acks: acks.length,
      acks_by_status: byStatus,
      accepted_total: accepted,
      seqs: acks.map((ack) => ack.seq).sort((a, b) => a - b),
      acks_detail: acks,
    },
    push: null,
    error: null,
  };
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`client.js: ${error.message}\n`);
    return EXIT_USAGE;
  }
  const Ingest = loadIngestService(options.protos);
  const client = new Ingest(options.target, grpc.credentials.createInsecure());
  let acks = [];
  let summary;
  try {
    acks = await runStream(client, options);
    summary = summarise(options, acks);
    summary.push = await runPush(client, options, options.firstSeq + options.batches);
    return 0;
  } catch (error) {
    summary = summary ?? summarise(options, error.acks ?? acks);
    summary.error = { rpc: error.rpc, code: statusName(error.code), message: error.message };
    process.stderr.write(`client.js: ${error.message}\n`);
    return EXIT_CALL_FAILED;
  } finally {
    client.close();
    if (summary) {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    }
  }
}

main().then((code) => {
  process.exitCode = code;
});
