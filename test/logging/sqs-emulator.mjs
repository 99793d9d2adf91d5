// The SQS server for the integration tests, as a child process they can kill and restart:
// fauxqs (SQS, in memory) listening on loopback only. Usage: node sqs-emulator.mjs <port>
import { buildApp } from 'fauxqs';

const port = Number(process.argv[2]);
const app = buildApp({ logger: false });
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`listening on ${port}\n`);
