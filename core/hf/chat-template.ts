/**
 * Choosing a model's chat template among the files that may hold it. Web APIs only: the Workers
 * bundle reads these files from R2 or from the bundle, Node from a directory (files.ts).
 */

/** A chat template as Hugging Face stores it: one template, or named ones ("default", "tool_use", ...). */
export type ChatTemplateSource = string | { name: string; template: string }[];

/**
 * The chat template where transformers looks for it: `chat_template.jinja` (what `save_pretrained`
 * writes since transformers 4.51), else `chat_template.json`, else tokenizer_config.json's
 * `chat_template` field. Each argument is a file's text (undefined: no such file).
 */
export function chatTemplateFrom(files: { jinja?: string; json?: string; fromConfig?: ChatTemplateSource }): ChatTemplateSource | undefined {
  if (files.jinja !== undefined) return files.jinja;
  if (files.json !== undefined) {
    const template = (JSON.parse(files.json) as { chat_template?: ChatTemplateSource }).chat_template;
    if (template !== undefined) return template;
  }
  return files.fromConfig;
}

/** The template serving uses: the single one, or the one named "default" (else the first). */
export function defaultChatTemplate(source: ChatTemplateSource | undefined): string | undefined {
  return Array.isArray(source) ? (source.find((t) => t.name === 'default') ?? source[0])?.template : source;
}
