import type { BuildOptions, Metafile } from 'esbuild';

/** What every bundle Node runs from dist/ shares (see cli-bundle.mjs). */
export const nodeBundleOptions: BuildOptions;

/** The client's file in dist/cli (bin/vmdesk.cjs requires it). */
export const CLIENT_FILE: string;

/** esbuild's `__toESM` helper as it writes it into a CommonJS bundle (see cli-bundle.mjs). */
export const ESBUILD_TO_ESM: string;

/** The client's bundle with a `__toESM` for Node's built-in modules that copies nothing (see cli-bundle.mjs). */
export function cheapBuiltinImports(code: string): string;

/** Builds the CLI into `root`/dist/cli (see cli-bundle.mjs): the client's and the lazy modules' metafiles,
 * and the client's code. */
export function buildCli(
  root: string,
  options?: { write?: boolean },
): Promise<{ client: Metafile; lazy: Metafile; clientCode: string }>;
