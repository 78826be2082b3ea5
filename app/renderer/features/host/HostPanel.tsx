import { useEffect, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { CopyCode, Notice } from '../../components/Notice.js';
import { closeDialog, loadHostReport } from '../../store/actions.js';
import { useVmdesk, type HostReport } from '../../store/store.js';
import { formatBytes } from '../vm-details/format.js';

type Arch = keyof HostReport['qemu'];
const ARCHES: Arch[] = ['x86_64', 'aarch64'];

function Block({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="host-block" aria-label={title}>
      <h3 className="card-title">{title}</h3>
      {children}
    </section>
  );
}

const Yes = ({ ok, children }: { ok: boolean; children: ReactNode }) => (
  <span className={`pill ${ok ? 'pill-ok' : 'pill-bad'}`}>{children}</span>
);

function Accelerators({ r }: { r: HostReport }) {
  return (
    <Block title="Accelerators">
      {ARCHES.map((arch) => (
        <div key={arch} className="host-arch">
          <h4>
            {arch} guests{arch === r.hostArch ? <span className="muted"> · this host’s architecture</span> : null}
          </h4>
          <ul className="host-list">
            {r.accels[arch].map((a) => (
              <li key={a.accel}>
                <div className="host-line">
                  <strong className="host-name">{a.accel.toUpperCase()}</strong>
                  <Yes ok={a.available}>{a.available ? 'available' : 'unavailable'}</Yes>
                </div>
                <p className="muted">{a.reason}</p>
                {a.fix ? <CopyCode text={a.fix} /> : null}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </Block>
  );
}

function Binaries({ r }: { r: HostReport }) {
  return (
    <Block title="QEMU">
      <ul className="host-list">
        {ARCHES.map((arch) => {
          const q = r.qemu[arch];
          return (
            <li key={arch}>
              <div className="host-line">
                <strong className="host-name">qemu-system-{arch}</strong>
                {q.status === 'ok' ? <span>{q.caps.version}</span> : <Yes ok={false}>{q.status}</Yes>}
              </div>
              {q.status === 'ok' ? (
                <code className="path">{q.caps.binary}</code>
              ) : (
                <>
                  <p className="muted">{q.reason}</p>
                  <CopyCode text={q.fix} />
                </>
              )}
            </li>
          );
        })}
        <li>
          <div className="host-line">
            <strong className="host-name">qemu-img</strong>
            {r.qemuImg.status === 'ok' ? <span>{r.qemuImg.version}</span> : <Yes ok={false}>{r.qemuImg.status}</Yes>}
          </div>
          {r.qemuImg.status === 'ok' ? (
            <code className="path">{r.qemuImg.path}</code>
          ) : (
            <>
              <p className="muted">{r.qemuImg.reason}</p>
              <CopyCode text={r.qemuImg.fix} />
            </>
          )}
        </li>
      </ul>
    </Block>
  );
}

/** swtpm, which a VM with a TPM 2.0 runs beside QEMU: where it is, or how to install it. */
function Tpm({ r }: { r: HostReport }) {
  const t = r.swtpm;
  return (
    <Block title="TPM emulator">
      <ul className="host-list">
        <li>
          <div className="host-line">
            <strong className="host-name">swtpm</strong>
            {t.path ? <Yes ok>available</Yes> : <Yes ok={false}>missing</Yes>}
          </div>
          {t.path ? (
            <>
              <p className="muted">VMs with a TPM 2.0 (Windows 11) get one emulated by it.</p>
              <code className="path">{t.path}</code>
            </>
          ) : (
            <>
              <p className="muted">{t.reason ?? 'swtpm was not found: VMs with a TPM 2.0 cannot start.'}</p>
              {t.fix ? <CopyCode text={t.fix} /> : null}
            </>
          )}
        </li>
      </ul>
    </Block>
  );
}

/** What a firmware image offers: Secure Boot with Microsoft's keys enrolled, without keys, or none. */
function secureBootWords(img: HostReport['firmware']['images'][number]): string {
  if (!img.secureBoot) return 'No Secure Boot';
  return img.enrolledKeys ? 'Secure Boot, Microsoft keys enrolled' : 'Secure Boot, no keys enrolled';
}

function Firmware({ r }: { r: HostReport }) {
  const f = r.firmware;
  return (
    <Block title="UEFI firmware">
      <ul className="host-list">
        {f.images.slice(0, 6).map((img) => (
          <li key={img.code}>
            <div className="host-line">
              <strong className="host-name">{img.arch}</strong>
              <span className={img.secureBoot ? 'pill pill-ok' : 'pill pill-plain'}>{secureBootWords(img)}</span>
            </div>
            <p className="muted">{img.description}</p>
            <code className="path">{img.code}</code>
          </li>
        ))}
        {f.missing.map((m) => (
          <li key={m.arch}>
            <div className="host-line">
              <strong className="host-name">{m.arch}</strong>
              <Yes ok={false}>missing</Yes>
            </div>
            <p className="muted">{m.reason}</p>
            <CopyCode text={m.fix} />
          </li>
        ))}
      </ul>
      {f.problems.length > 0 ? <p className="muted small">Skipped: {f.problems.join(' · ')}</p> : null}
    </Block>
  );
}

const limit = (v: number | 'unlimited' | null) =>
  v === null ? 'unknown' : v === 'unlimited' ? 'unlimited' : formatBytes(v);

function System({ r }: { r: HostReport }) {
  return (
    <Block title="System">
      <dl className="rows">
        <div className="row">
          <dt>Platform</dt>
          <dd>
            {r.platform} · {r.hostArch}
          </dd>
        </div>
        <div className="row">
          <dt>Locked memory</dt>
          <dd>
            {limit(r.memlock.soft)} (hard limit {limit(r.memlock.hard)})
            {r.memlock.note ? <p className="muted">{r.memlock.note}</p> : null}
          </dd>
        </div>
        <div className="row">
          <dt>Native layer</dt>
          <dd>
            {r.native.implementation}
            {r.native.loaded ? ' (loaded)' : ' (not loaded)'}
            {r.native.loadError ? <p className="muted">{r.native.loadError}</p> : null}
          </dd>
        </div>
        <div className="row">
          <dt>Probe</dt>
          <dd>{r.probeMs} ms</dd>
        </div>
      </dl>
      {r.notes.length > 0 ? (
        <ul className="muted small">
          {r.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      ) : null}
    </Block>
  );
}

export function HostPanel() {
  const { host, hostLoading, hostError } = useVmdesk(
    useShallow((s) => ({ host: s.host, hostLoading: s.hostLoading, hostError: s.hostError })),
  );
  useEffect(() => {
    void loadHostReport();
  }, []);
  return (
    <Dialog
      title="Host"
      subtitle="What this machine offers vmdesk: accelerators, QEMU, firmware and Secure Boot, the TPM emulator."
      wide
      onClose={closeDialog}
      footer={
        <>
          <Button disabled={hostLoading} onClick={() => void loadHostReport()}>
            {hostLoading ? 'Checking…' : 'Check again'}
          </Button>
          <Button variant="primary" onClick={closeDialog}>
            Done
          </Button>
        </>
      }
    >
      {hostError ? <Notice tone="error">{hostError}</Notice> : null}
      {!host ? (
        <p className="muted">{hostLoading ? 'Checking this host…' : ''}</p>
      ) : (
        <div className="host-grid">
          <div className="host-col">
            <Accelerators r={host} />
            <Tpm r={host} />
          </div>
          <div className="host-col">
            <Binaries r={host} />
            <Firmware r={host} />
            <System r={host} />
          </div>
        </div>
      )}
    </Dialog>
  );
}
