#!/usr/bin/env node
// Committed entry point, so npm links the `sluice` bin on install before anything is built.
await import('../dist/main.js');
