/**
 * A Lambda `Context` for handlers invoked in-process by the local stack: the same fields the
 * Lambda runtime fills, and a `getRemainingTimeInMillis` that counts down from the function's
 * timeout (the conversation and delivery handlers stop work that would outlive it).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** The functions of the local stack and their timeouts (milliseconds), as deployed. */
export interface LocalFunction {
  readonly name: string;
  readonly timeoutMs: number;
  readonly memoryMb?: number;
}

/** A fresh invocation context for `fn`, starting its countdown now. */
export function lambdaContext(fn: LocalFunction, region = 'us-east-1'): Context {
  const deadline = Date.now() + fn.timeoutMs;
  const unsupported = (): void => {
    throw new Error('Legacy Lambda callbacks (done/succeed/fail) are not supported: return a promise.');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${fn.name}`,
    memoryLimitInMB: String(fn.memoryMb ?? 512),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
