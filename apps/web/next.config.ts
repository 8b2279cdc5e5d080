import path from 'node:path';
import type { NextConfig } from 'next';

// The monorepo root: workspace packages (graph-model) and the lockfile live there.
const root = path.resolve(import.meta.dirname, '../..');

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  devIndicators: false,
  outputFileTracingRoot: root,
  turbopack: { root },
};

export default config;
