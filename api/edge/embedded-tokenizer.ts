import modelConfig from '../../model/default/config.json' with { type: 'json' };
import tokenizerJson from '../../model/default/tokenizer.json' with { type: 'json' };
import tokenizerConfig from '../../model/default/tokenizer_config.json' with { type: 'json' };
import { tokenizerFromFiles, type TokenizerConfig } from '../models/hf-tokenizer.ts';
import type { TokenizerSource } from './serving.ts';

/**
 * The embedded default model's tokenizer and chat template (model/default), bundled into the Worker
 * (~17 KB gzipped): what a Worker tokenizes with when its model server serves that model.
 */
export function embeddedTokenizer(): TokenizerSource {
  return {
    tokenizer: tokenizerFromFiles(tokenizerJson, tokenizerConfig as TokenizerConfig, 'the bundled model/default tokenizer'),
    maxPositionEmbeddings: modelConfig.max_position_embeddings,
  };
}
