/**
 * Who answers a turn, chosen with a static factory (the CDK idiom, e.g. `lambda.Code.fromAsset`):
 * `Responder.bedrock({ modelId })`, `Responder.lambda(fn)` or `Responder.echo()`.
 */
import type { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { DEFAULT_BEDROCK_MODEL_ID } from '../lambdas/contracts/defaults.js';

/** The kind of responder (the `RESPONDER` environment variable of the conversation function). */
export enum ResponderType {
  /** Amazon Bedrock through the Converse API. */
  BEDROCK = 'bedrock',
  /** Your own Lambda function, invoked with the `TurnContext` JSON; it returns a `Reply` JSON. */
  LAMBDA = 'lambda',
  /** Deterministic echo of the customer's text, for local runs and tests. */
  ECHO = 'echo',
}

/** Options of {@link Responder.bedrock}. */
export interface BedrockResponderOptions {
  /**
   * Foundation model id, cross-region inference profile id (`us.…`, `eu.…`, `apac.…`, `global.…`)
   * or a model / inference-profile ARN. The IAM permission is scoped to exactly this.
   * @default 'global.anthropic.claude-haiku-4-5-20251001-v1:0' (Claude Haiku 4.5, global inference profile)
   */
  readonly modelId?: string;
  /**
   * Time allowed for one answer (every Converse attempt and image load); at most half the
   * conversation function's timeout, so a regeneration still fits.
   * @default Duration.seconds(20)
   */
  readonly timeout?: Duration;
}

/** Which responder answers turns. Create one with a static factory. */
export class Responder {
  /** Amazon Bedrock (Converse API); the conversation function may invoke exactly the given model. */
  public static bedrock(options: BedrockResponderOptions = {}): Responder {
    return new Responder(ResponderType.BEDROCK, options.modelId ?? DEFAULT_BEDROCK_MODEL_ID, options.timeout);
  }

  /**
   * Your own Lambda function: invoked with the `TurnContext` JSON, it returns a `Reply` JSON (the
   * types are exported by `chat-relay/contracts`). The conversation function may invoke it and nothing else.
   */
  public static lambda(fn: IFunction): Responder {
    return new Responder(ResponderType.LAMBDA, undefined, undefined, fn);
  }

  /** The built-in echo responder (deterministic; for local runs and tests). */
  public static echo(): Responder {
    return new Responder(ResponderType.ECHO);
  }

  /** The kind of responder. */
  public readonly type: ResponderType;
  /** The Bedrock model id, inference profile id or ARN (Bedrock responders only). */
  public readonly modelId?: string;
  /** The Bedrock answer timeout, when one was given (Bedrock responders only). */
  public readonly timeout?: Duration;
  /** The function invoked (Lambda responders only). */
  public readonly lambdaFunction?: IFunction;

  private constructor(type: ResponderType, modelId?: string, timeout?: Duration, lambdaFunction?: IFunction) {
    this.type = type;
    if (modelId !== undefined) this.modelId = modelId;
    if (timeout !== undefined) this.timeout = timeout;
    if (lambdaFunction !== undefined) this.lambdaFunction = lambdaFunction;
  }
}
