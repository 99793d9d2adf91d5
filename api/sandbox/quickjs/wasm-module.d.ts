/** The QuickJS wasm as a precompiled module: what wrangler's CompiledWasm rule gives for this import. */
declare module '@jitl/quickjs-wasmfile-release-sync/wasm' {
  const wasmModule: WebAssembly.Module;
  export default wasmModule;
}
