/** The name the embedded model (model/default) is served under by `cir serve`, and expected under by a Worker. Web-safe. */
export const EMBEDDED_MODEL_NAME = 'cir-synth-1.9m';
