import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { defaultChatTemplate, type ChatTemplateSource } from '../../core/hf/chat-template.ts';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from './types.ts';

/**
 * The model's tokenizer, from the `tokenizer.json` + `tokenizer_config.json` beside the model:
 * @huggingface/tokenizers does the encoding (the same code transformers.js runs) and
 * @huggingface/jinja renders `chat_template`. Web APIs only (the Workers bundle builds it from
 * bundled or R2 files); tokenizer.ts reads the files from a directory on Node.
 */

type SpecialToken = string | { content: string } | null | undefined;

export interface TokenizerConfig {
  chat_template?: ChatTemplateSource;
  bos_token?: SpecialToken;
  eos_token?: SpecialToken;
  pad_token?: SpecialToken;
  unk_token?: SpecialToken;
  clean_up_tokenization_spaces?: boolean;
  clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output?: boolean;
  [key: string]: unknown;
}

const tokenText = (t: SpecialToken): string | undefined => (typeof t === 'string' ? t : (t?.content ?? undefined));

/**
 * Whether decode removes spaces before punctuation (" ." -> "."), as transformers 5 decides it: only when
 * the config asks for it, and never for a BPE model unless it insists (transformers ignores the flag there
 * because the clean-up corrupts BPE output). @huggingface/tokenizers defaults the flag to true and applies
 * it to every model, so it is passed explicitly on every decode.
 */
function cleansUpSpaces(config: TokenizerConfig, modelType: string | undefined): boolean {
  if (!config.clean_up_tokenization_spaces) return false;
  return modelType !== 'BPE' || config.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output === true;
}

export class HfTokenizerFiles implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokenIds: ReadonlySet<number>;
  /** Id of the tokenizer config's eos_token, if it names one. */
  readonly eosTokenId: number | undefined;
  private readonly template: Template | undefined;
  private readonly templateTokens: Record<string, string | undefined>;
  private readonly cleanUpSpaces: boolean;

  constructor(
    private readonly tokenizer: HfTokenizer,
    config: TokenizerConfig,
  ) {
    const vocab = tokenizer.get_vocab(true);
    let size = 0;
    for (const id of vocab.values()) size = Math.max(size, id + 1);
    this.vocabSize = size;
    this.specialTokenIds = new Set([...tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
    const eos = tokenText(config.eos_token);
    this.eosTokenId = eos === undefined ? undefined : tokenizer.token_to_id(eos);
    const source = defaultChatTemplate(config.chat_template);
    this.template = source ? new Template(source) : undefined;
    this.templateTokens = {
      bos_token: tokenText(config.bos_token),
      eos_token: eos,
      pad_token: tokenText(config.pad_token),
      unk_token: tokenText(config.unk_token),
    };
    this.cleanUpSpaces = cleansUpSpaces(config, tokenizer.model?.config.type);
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    // @huggingface/tokenizers throws on an empty list; transformers decodes it to ''.
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids as number[], { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  renderChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (!this.template) throw new Error('the tokenizer has no chat template (chat_template.jinja, or chat_template in tokenizer_config.json)');
    // As transformers' apply_chat_template: extra variables may override the special tokens, not the messages.
    return this.template.render({
      ...this.templateTokens,
      ...options.templateVariables,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.renderChat(messages, options), { addSpecialTokens: false });
  }
}

/**
 * Builds the tokenizer from the files' contents: `tokenizerJson` parsed from tokenizer.json, `config`
 * from tokenizer_config.json with its chat_template already resolved (chatTemplateFrom). `where` names
 * the source in errors.
 */
export function tokenizerFromFiles(tokenizerJson: unknown, config: TokenizerConfig, where: string): HfTokenizerFiles {
  if (typeof tokenizerJson !== 'object' || tokenizerJson === null) throw new Error(`${where}: tokenizer.json is not a JSON object`);
  try {
    return new HfTokenizerFiles(new HfTokenizer(tokenizerJson, config), config);
  } catch (error) {
    throw new Error(`cannot build the tokenizer from ${where}: ${(error as Error).message}`);
  }
}

/**
 * Turns a stream of token ids into a stream of text, as vLLM's incremental detokenizer does:
 * each new token is decoded together with a few tokens before it (so tokenizers that drop a
 * leading space, or split a UTF-8 character over tokens, decode right) and only the new
 * suffix is returned. Text ending in U+FFFD (an incomplete character) is held back until the
 * character completes.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[];
  private prefixOffset: number;
  private readOffset: number;

  /** `context`: ids just before the first decoded token (they are never emitted). */
  constructor(
    private readonly tokenizer: Tokenizer,
    context: readonly number[] = [],
    private readonly skipSpecialTokens = true,
  ) {
    this.ids = context.slice(-6);
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
  }

  /** Adds one id; returns the text it completes ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const options = { skipSpecialTokens: this.skipSpecialTokens };
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), options);
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), options);
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }

  /** Text still held back (an incomplete character at the end), released as is. */
  flush(): string {
    const options = { skipSpecialTokens: this.skipSpecialTokens };
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), options);
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), options);
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }
}
