import type { ReactNode } from 'react';

/** A two-column list of facts ("Memory — 2 GiB"), as the Overview and read-only views show them. */
export function Rows({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl className="rows">
      {rows.map(([k, v]) => (
        <div className="row" key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
