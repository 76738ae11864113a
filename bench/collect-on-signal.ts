// Preloaded into the soaked server (`node --expose-gc --require`): SIGUSR2 runs a full garbage collection, so the
// benchmark can read the memory the server keeps rather than where V8's collection cycle happens to stand.
// It lives in bench/ and changes nothing in the product.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
});
