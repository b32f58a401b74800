// Piscina worker of the server's ingest: decodes a batch body into packed table rows (src/server/ingest/decode.ts).
import { decodePacked } from '../src/server/ingest/decode.js';

export default decodePacked;
