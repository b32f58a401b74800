// Request logging for both HTTP servers: one line per request at `debug` (a scrape every few
// seconds or a fleet's ingest would drown an `info` log), failures at the levels Fastify uses.
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

export class DebugRequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, request, reply);
    if (this.isLogDisabled(request)) return;
    request.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
