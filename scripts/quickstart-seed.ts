// Puts a few demo objects into the quick start's bucket.
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const [endpoint, bucket] = process.argv.slice(2);
if (!endpoint || !bucket) {
  process.stderr.write('usage: quickstart-seed ENDPOINT BUCKET\n');
  process.exit(2);
}
const s3 = new S3Client({
  endpoint,
  region: process.env['AWS_REGION'] ?? 'us-east-1',
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const rows = Array.from({ length: 1000 }, (_, i) => `${i},${i * i}`).join('\n');
const objects: Record<string, string> = {
  'hello.txt': 'Hello from S3, read through NFS.\n',
  'data/squares.csv': `n,n_squared\n${rows}\n`,
  'data/2026/11/events.jsonl': '{"event":"start"}\n{"event":"stop"}\n',
};
for (const [key, body] of Object.entries(objects)) {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}
process.stdout.write(`quickstart: put ${Object.keys(objects).length} demo objects into s3://${bucket}\n`);
s3.destroy();
