/** Pure RL math: rewards, advantages, the PPO-clip objective. No I/O, no engine state. */
export * from './types.ts';
export * from './rewards.ts';
export * from './advantages.ts';
export * from './policy-loss.ts';
