import type { BuildOptions, Metafile } from 'esbuild';

/** What every bundle Node runs from dist/ shares (see cli-bundle.mjs). */
export const nodeBundleOptions: BuildOptions;

/** The client's file in dist/cli (bin/vmdesk.cjs requires it). */
export const CLIENT_FILE: string;

/** Builds the CLI into `root`/dist/cli (see cli-bundle.mjs): the client's and the lazy modules' metafiles. */
export function buildCli(root: string, options?: { write?: boolean }): Promise<{ client: Metafile; lazy: Metafile }>;
