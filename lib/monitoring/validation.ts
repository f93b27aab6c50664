/**
 * Validation of the monitoring settings: every problem at once, each with its fix. `ChatRelay`
 * reports them together with its own props' problems; `ChatRelayMonitoring` on its own throws them.
 */
import { type Duration, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { CHANNELS } from '../../lambdas/contracts/channels.js';
import { ChatRelayMonitoringError } from '../errors.js';
import { checkQueryValue } from './metrics.js';
import type { ChatRelayMonitoringProps, ChatRelayMonitoringSettings } from './props.js';
import {
  type ChatRelayMonitoringThresholds,
  DEFAULT_MONITORING_THRESHOLDS,
  type ResolvedThresholds,
} from './thresholds.js';

const NAME_PREFIX = /^[A-Za-z0-9_-]{1,200}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** What {@link resolveThresholds} needs to know besides the thresholds. */
export interface ThresholdInputs {
  readonly thresholds?: ChatRelayMonitoringThresholds;
  readonly alarmEmail?: string;
  readonly queueKeys: readonly string[];
}

export function resolveThresholds(
  scope: IConstruct,
  props: ChatRelayMonitoringProps,
  namePrefix: string,
  channels: readonly string[],
  serviceNames: { readonly lambda: string; readonly media: string },
): ResolvedThresholds {
  const { resolved, problems } = collectThresholds(
    {
      thresholds: props.thresholds,
      alarmEmail: props.alarmEmail,
      queueKeys: [...Object.keys(props.queues), ...(props.media ? ['mediaJobs'] : [])],
    },
    namePrefix,
    channels,
    serviceNames,
  );
  if (problems.length > 0) throw new ChatRelayMonitoringError(problems, scope);
  return resolved;
}

/**
 * Every problem with monitoring settings, each saying the fix, without building anything:
 * `ChatRelay` reports them together with its own props' problems.
 */
export function validateMonitoringSettings(
  settings: ChatRelayMonitoringSettings,
  context: {
    readonly queueKeys: readonly string[];
    readonly namePrefix: string;
    readonly serviceName: string;
    readonly mediaServiceName: string;
  },
): string[] {
  return collectThresholds(
    { thresholds: settings.thresholds, alarmEmail: settings.alarmEmail, queueKeys: context.queueKeys },
    context.namePrefix,
    settings.channels ?? CHANNELS,
    { lambda: context.serviceName, media: context.mediaServiceName },
  ).problems;
}

function collectThresholds(
  props: ThresholdInputs,
  namePrefix: string,
  channels: readonly string[],
  serviceNames: { readonly lambda: string; readonly media: string },
): { resolved: ResolvedThresholds; problems: string[] } {
  const d = DEFAULT_MONITORING_THRESHOLDS;
  const given = props.thresholds ?? {};
  const problems: string[] = [];
  const count = (
    key: keyof ChatRelayMonitoringThresholds,
    value: number | undefined,
    fallback: number,
  ): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1) {
      problems.push(
        `thresholds.${key} must be a whole number of at least 1; got ${String(v)}. Set thresholds.${key} to 1 or more, or leave it out for the default (${fallback}).`,
      );
    }
    return v;
  };
  const percent = (
    key: keyof ChatRelayMonitoringThresholds,
    value: number | undefined,
    fallback: number,
  ): number => {
    const v = value ?? fallback;
    if (!(Number.isFinite(v) && v > 0 && v <= 100)) {
      problems.push(
        `thresholds.${key} must be a percentage above 0 and at most 100; got ${String(v)}. Set thresholds.${key} between 0 and 100, or leave it out for the default (${fallback}).`,
      );
    }
    return v;
  };
  const period = given.period ?? d.period;
  if (!period.isUnresolved()) {
    const s = period.toSeconds({ integral: false });
    if (!(s >= 60 && s % 60 === 0 && s <= 86_400)) {
      problems.push(
        `thresholds.period must be a whole number of minutes between 1 minute and 1 day; got ${period.toHumanString()}. Use Duration.minutes(n) with n from 1 to 1440.`,
      );
    }
  }
  const queueKeys = new Set(props.queueKeys);
  const ages: Record<string, Duration> = {};
  for (const [key, age] of Object.entries({ ...d.oldestMessageAge, ...(given.oldestMessageAge ?? {}) })) {
    const explicit = given.oldestMessageAge?.[key] !== undefined;
    if (!queueKeys.has(key)) {
      if (explicit) {
        problems.push(
          `thresholds.oldestMessageAge.${key} names no queue; the queues are ${[...queueKeys].join(', ') || '(none)'}. Use one of those keys.`,
        );
      }
      continue;
    }
    if (
      !age.isUnresolved() &&
      (age.toSeconds({ integral: false }) < 60 || age.toSeconds({ integral: false }) > 1_209_600)
    ) {
      problems.push(
        `thresholds.oldestMessageAge.${key} must be between 1 minute and 14 days; got ${age.toHumanString()}. Set a duration in that range.`,
      );
    }
    ages[key] = age;
  }
  const resolved: ResolvedThresholds = {
    period,
    dlqMessages: count('dlqMessages', given.dlqMessages, d.dlqMessages),
    oldestMessageAge: ages,
    webhook5xxPercent: percent('webhook5xxPercent', given.webhook5xxPercent, d.webhook5xxPercent),
    webhookMinRequests: count('webhookMinRequests', given.webhookMinRequests, d.webhookMinRequests),
    webhook4xxPercent: percent('webhook4xxPercent', given.webhook4xxPercent, d.webhook4xxPercent),
    signatureRejects: count('signatureRejects', given.signatureRejects, d.signatureRejects),
    tokenInvalid: count('tokenInvalid', given.tokenInvalid, d.tokenInvalid),
    sendFailurePercent: percent('sendFailurePercent', given.sendFailurePercent, d.sendFailurePercent),
    sendMinParts: count('sendMinParts', given.sendMinParts, d.sendMinParts),
    lambdaErrors: count('lambdaErrors', given.lambdaErrors, d.lambdaErrors),
    lambdaThrottles: count('lambdaThrottles', given.lambdaThrottles, d.lambdaThrottles),
    mediaFailures: count('mediaFailures', given.mediaFailures, d.mediaFailures),
  };
  if (!Token.isUnresolved(namePrefix) && !NAME_PREFIX.test(namePrefix)) {
    problems.push(
      `namePrefix must be 1–200 letters, digits, "-" or "_" (dashboard names allow no other characters); got ${JSON.stringify(namePrefix)}. Remove the other characters.`,
    );
  }
  if (
    props.alarmEmail !== undefined &&
    !Token.isUnresolved(props.alarmEmail) &&
    !EMAIL.test(props.alarmEmail)
  ) {
    problems.push(
      `alarmEmail must be an email address; got ${JSON.stringify(props.alarmEmail)}. Set it to an address such as ops@example.com, or leave it out.`,
    );
  }
  const unknownChannels = channels.filter((c) => !(CHANNELS as readonly string[]).includes(c));
  if (unknownChannels.length > 0) {
    problems.push(
      `channels must be among ${CHANNELS.join(', ')}; got ${unknownChannels.join(', ')}. Remove or fix the unknown channel names.`,
    );
  }
  if (channels.length === 0)
    problems.push(
      'channels must list at least one channel. List the channels you use, or leave channels out for all six.',
    );
  checkQueryValue('serviceName', serviceNames.lambda, problems);
  checkQueryValue('mediaServiceName', serviceNames.media, problems);
  return { resolved, problems };
}
