/**
 * "Graphics: vGPU": parent → type → instance (a new device or a free one) → the doctor's checks
 * with their fixes (copy, or "Fix with administrator rights": one prompt for all of them) →
 * assigned to the VM. In check mode it opens on the VM's own devices at the check step.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { MdevAssignment, VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { CopyCode, Notice } from '../../components/Notice.js';
import { applyVmChanged, closeDialog, messageOf, requireApi } from '../../store/actions.js';
import {
  defaultInstance,
  DISPLAY_LABEL,
  parentSubtitle,
  parentTitle,
  problemsFirst,
  proposal,
  reportHeadline,
  STATUS_LABEL,
  STEPS,
  typeRows,
  unusedInstances,
  type MdevCheck,
  type MdevCheckReport,
  type MdevInventory,
  type WizardStep,
} from './vgpu-model.js';

const newUuid = (): string => crypto.randomUUID();

function Steps({ at }: { at: WizardStep }) {
  const index = STEPS.findIndex((s) => s.id === at);
  return (
    <ol className="steps" aria-label="Steps">
      {STEPS.map((s, i) => (
        <li
          key={s.id}
          className={i === index ? 'step-now' : i < index || at === 'done' ? 'step-done' : ''}
          aria-current={i === index ? 'step' : undefined}
        >
          <span className="step-n">{i + 1}</span>
          {s.label}
        </li>
      ))}
    </ol>
  );
}

function CheckItem({ c }: { c: MdevCheck }) {
  return (
    <li className={`check-item check-${c.status}`} data-check={c.id} data-status={c.status}>
      <span className={`check-status check-status-${c.status}`}>{STATUS_LABEL[c.status]}</span>
      <div className="check-body">
        <strong>{c.title}</strong>
        <p className="muted">{c.detail}</p>
        {c.fix && c.status !== 'pass' ? (
          <div className="check-fix">
            <p className="check-fix-text">{c.fix.text}</p>
            {c.fix.command ? <CopyCode text={c.fix.command} /> : null}
            {c.fix.action ? <p className="small muted">“Fix with administrator rights” applies this.</p> : null}
          </div>
        ) : null}
      </div>
    </li>
  );
}

export function VgpuWizard({ vm, mode }: { vm: VmSummary; mode: 'add' | 'check' }) {
  const saved: MdevAssignment[] = vm.definition?.mdevs ?? [];
  const [step, setStep] = useState<WizardStep>(mode === 'check' ? 'check' : 'parent');
  const [inv, setInv] = useState<MdevInventory | null>(null);
  const [parentName, setParentName] = useState<string | null>(null);
  const [typeId, setTypeId] = useState<string | null>(null);
  const [instance, setInstance] = useState<string>('new');
  const [freshUuid, setFreshUuid] = useState(newUuid);
  const [display, setDisplay] = useState(true);
  const [persistent, setPersistent] = useState(false);
  const [report, setReport] = useState<MdevCheckReport | null>(null);
  const [busy, setBusy] = useState<'load' | 'check' | 'fix' | 'assign' | null>('load');
  const [manual, setManual] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Only the newest check or fix may set the report (and end "busy"): answers can arrive out of order.
  const latest = useRef(0);

  const parent = inv?.parents.find((p) => p.name === parentName);
  const type = parent?.types.find((t) => t.id === typeId);
  const proposed =
    parent && type ? proposal(parent, type, instance === 'new' ? freshUuid : instance, display) : undefined;
  const assignments = mode === 'add' && proposed ? [...saved, proposed] : saved;
  const stopped = vm.state === 'stopped' || vm.state === 'crashed';

  const load = useCallback(async () => {
    setBusy('load');
    try {
      setInv(await requireApi().call('mdev.list', {}));
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
    }
  }, []);

  const runCheck = useCallback(
    async (list: MdevAssignment[], keepError = false) => {
      const id = ++latest.current;
      setBusy('check');
      setManual(null);
      try {
        const r = await requireApi().call('mdev.check', { vm: vm.id, assignments: list });
        if (id !== latest.current) return;
        setReport(r);
        if (!keepError) setError(null);
      } catch (err) {
        if (id === latest.current) setError(messageOf(err));
      } finally {
        if (id === latest.current) setBusy(null);
      }
    },
    [vm.id],
  );

  useEffect(() => {
    void load();
  }, [load]);
  // The checks run on entering the step, and again whenever the list they check changes.
  const checkKey = JSON.stringify(assignments);
  useEffect(() => {
    if (step === 'check') void runCheck(JSON.parse(checkKey) as MdevAssignment[]);
  }, [step, checkKey, runCheck]);

  async function applyFixes() {
    const id = ++latest.current;
    setBusy('fix');
    setManual(null);
    setError(null);
    try {
      const r = await requireApi().call('mdev.applyFixes', {
        vm: vm.id,
        assignments,
        ...(persistent && instance === 'new' ? { persistent: true } : {}),
      });
      if (r.outcome === 'manual') setManual(r.command);
      else {
        setReport(r.result);
        const fresh = await requireApi().call('mdev.list', {});
        setInv(fresh);
        // The new device exists now: from here on (and after Back) it is an existing one.
        if (instance === 'new' && fresh.devices.some((d) => d.uuid === freshUuid)) setInstance(freshUuid);
      }
    } catch (err) {
      setError(messageOf(err));
      // A helper that failed half-way may have changed some things: show the host as it is now.
      if (id === latest.current) await runCheck(assignments, true);
    } finally {
      if (id === latest.current) setBusy(null);
    }
  }

  async function assign() {
    if (!proposed) return;
    setBusy('assign');
    setError(null);
    try {
      applyVmChanged(
        await requireApi().call('mdev.assign', {
          vm: vm.id,
          parent: proposed.parent,
          type: proposed.type,
          uuid: proposed.uuid,
          display: proposed.display,
        }),
      );
      setStep('done');
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
    }
  }

  function pickType(id: string) {
    const t = parent?.types.find((x) => x.id === id);
    setTypeId(id);
    // A UUID an earlier fix already used for a device is not "new" any more.
    if (inv?.devices.some((d) => d.uuid === freshUuid)) setFreshUuid(newUuid());
    if (t && inv) {
      const d = defaultInstance(inv, t);
      setInstance(d === 'new' && !(t.canCreate && t.availableInstances !== 0) ? '' : d);
      setDisplay(t.display !== 'none');
    }
  }

  const headline = report ? reportHeadline(report) : null;
  const back: Partial<Record<WizardStep, WizardStep>> =
    mode === 'add' ? { type: 'parent', device: 'type', check: 'device' } : {};
  const canNext =
    step === 'parent'
      ? !!parent && parent.types.length > 0
      : step === 'type'
        ? !!type && !typeRows(inv!, parent!).find((r) => r.type.id === typeId)?.blocked
        : step === 'device'
          ? instance !== ''
          : false;
  const next: Partial<Record<WizardStep, WizardStep>> = { parent: 'type', type: 'device', device: 'check' };

  const footer = (
    <>
      {step === 'done' ? (
        <Button variant="primary" onClick={closeDialog}>
          Close
        </Button>
      ) : (
        <>
          <Button onClick={closeDialog}>{mode === 'check' ? 'Close' : 'Cancel'}</Button>
          {back[step] ? (
            <Button disabled={busy === 'fix' || busy === 'assign'} onClick={() => setStep(back[step]!)}>
              Back
            </Button>
          ) : null}
          {step !== 'check' ? (
            <Button variant="primary" disabled={!canNext || busy !== null} onClick={() => setStep(next[step]!)}>
              Next
            </Button>
          ) : null}
          {step === 'check' && mode === 'add' ? (
            <Button
              variant={report?.ready ? 'primary' : 'default'}
              disabled={!report || !stopped || busy !== null}
              aria-busy={busy === 'assign' || undefined}
              title={stopped ? undefined : `Shut down “${vm.name}” first: its devices are fixed while it runs`}
              onClick={() => void assign()}
            >
              {report && !report.ready ? 'Assign anyway' : `Assign to ${vm.name}`}
            </Button>
          ) : null}
        </>
      )}
    </>
  );

  return (
    <Dialog
      title={mode === 'check' ? `vGPU check: ${vm.name}` : `Graphics: vGPU for ${vm.name}`}
      onClose={closeDialog}
      wide
      footer={footer}
      subtitle={
        mode === 'add'
          ? 'A mediated device (vGPU) gives the VM a share of a host GPU. vmdesk checks the host and fixes what it can with one password prompt.'
          : 'What the host needs before this VM can start with its mediated devices.'
      }
    >
      <div className="vgpu">
        {mode === 'add' && step !== 'done' ? <Steps at={step} /> : null}
        {error ? (
          <Notice tone="error" title="That did not work">
            {error}
          </Notice>
        ) : null}

        {step === 'parent' ? (
          busy === 'load' ? (
            <p className="muted">Looking for mediated-device capable GPUs…</p>
          ) : inv ? (
            <>
              {inv.notes.map((n) => (
                <Notice
                  key={n.id + (n.device ?? '')}
                  tone={inv.parents.length ? 'info' : 'warn'}
                  title={
                    n.id === 'no-parents'
                      ? 'Nothing on this host offers vGPUs'
                      : n.device
                        ? `About ${n.device}`
                        : undefined
                  }
                >
                  <p className="pre-line">{n.text}</p>
                  {n.fix?.command ? <CopyCode text={n.fix.command} /> : null}
                </Notice>
              ))}
              {inv.parents.length === 0 ? null : (
                <fieldset className="choices">
                  <legend>Which GPU (or mdev parent) should the vGPU come from?</legend>
                  {inv.parents.map((p) => (
                    <label key={p.name} className={`choice${p.types.length === 0 ? ' choice-off' : ''}`}>
                      <input
                        type="radio"
                        name="parent"
                        value={p.name}
                        checked={parentName === p.name}
                        disabled={p.types.length === 0}
                        onChange={() => {
                          setParentName(p.name);
                          setTypeId(null);
                        }}
                      />
                      <span className="choice-text">
                        <strong>{parentTitle(p)}</strong>
                        <span className="muted small">
                          {parentSubtitle(p)}
                          {p.problems.length ? ` · ${p.problems.join('; ')}` : ''}
                        </span>
                      </span>
                    </label>
                  ))}
                </fieldset>
              )}
            </>
          ) : null
        ) : null}

        {step === 'type' && inv && parent ? (
          <fieldset className="choices">
            <legend>Which type? Bigger types get more of the GPU; fewer of them fit.</legend>
            <table className="table type-table">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Details</th>
                  <th scope="col">Display</th>
                  <th scope="col">Free</th>
                </tr>
              </thead>
              <tbody>
                {typeRows(inv, parent).map((r) => (
                  <tr key={r.type.id} className={r.blocked ? 'row-off' : undefined}>
                    <td>
                      <label className="choice-inline">
                        <input
                          type="radio"
                          name="type"
                          value={r.type.id}
                          checked={typeId === r.type.id}
                          disabled={!!r.blocked}
                          onChange={() => pickType(r.type.id)}
                        />
                        <span>{r.label}</span>
                      </label>
                      {r.blocked ? <span className="check-hint">{r.blocked}</span> : null}
                    </td>
                    <td>
                      {r.summary ? <span>{r.summary}</span> : null}
                      {r.type.description ? (
                        <span className="type-desc" title={r.type.description}>
                          {r.type.description.trim().split('\n').join(' · ')}
                        </span>
                      ) : null}
                    </td>
                    <td>{DISPLAY_LABEL[r.type.display]}</td>
                    <td>
                      {r.free ?? '?'}
                      {r.unused ? <span className="muted small"> + {r.unused} unused</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </fieldset>
        ) : null}

        {step === 'device' && inv && parent && type ? (
          <>
            <fieldset className="choices">
              <legend>A new {type.id} device, or one that already exists?</legend>
              <label className={`choice${type.canCreate && type.availableInstances !== 0 ? '' : ' choice-off'}`}>
                <input
                  type="radio"
                  name="instance"
                  value="new"
                  checked={instance === 'new'}
                  disabled={!type.canCreate || type.availableInstances === 0}
                  onChange={() => setInstance('new')}
                />
                <span className="choice-text">
                  <strong>Create a new device</strong>
                  <span className="muted small">
                    UUID {freshUuid}; creating it needs administrator rights once (the next step offers it).
                  </span>
                </span>
              </label>
              {unusedInstances(inv, type).map((d) => (
                <label key={d.uuid} className="choice">
                  <input
                    type="radio"
                    name="instance"
                    value={d.uuid}
                    checked={instance === d.uuid}
                    onChange={() => setInstance(d.uuid)}
                  />
                  <span className="choice-text">
                    <strong>Use {d.uuid}</strong>
                    <span className="muted small">
                      exists and no VM uses it{d.iommuGroup ? ` · IOMMU group ${d.iommuGroup}` : ''}
                    </span>
                  </span>
                </label>
              ))}
              {type.instances
                .filter((u) => !unusedInstances(inv, type).some((d) => d.uuid === u))
                .map((u) => (
                  <label key={u} className="choice choice-off">
                    <input type="radio" name="instance" value={u} disabled />
                    <span className="choice-text">
                      <strong>{u}</strong>
                      <span className="muted small">
                        assigned to{' '}
                        {inv.devices
                          .find((d) => d.uuid === u)
                          ?.usedBy.map((x) => `“${x.name}”`)
                          .join(', ') ?? 'another VM'}
                      </span>
                    </span>
                  </label>
                ))}
            </fieldset>
            {instance === 'new' ? (
              inv.mdevctl.installed ? (
                <label className="check">
                  <input type="checkbox" checked={persistent} onChange={(e) => setPersistent(e.target.checked)} />
                  <span>
                    Keep the device after a reboot
                    <span className="check-hint">mdevctl defines it and creates it again at every boot.</span>
                  </span>
                </label>
              ) : (
                <p className="muted small">
                  A device made here lasts until the host reboots. With the mdevctl package installed, vmdesk can keep
                  it.
                </p>
              )
            ) : null}
            {type.display !== 'none' ? (
              <label className="check">
                <input type="checkbox" checked={display} onChange={(e) => setDisplay(e.target.checked)} />
                <span>
                  Show the vGPU’s screen in the VM console
                  <span className="check-hint">
                    {type.display === 'dmabuf'
                      ? 'Needs OpenGL on this host (a render node under /dev/dri); the check step says whether it is there.'
                      : 'A plain framebuffer: works with the VNC console as it is.'}
                  </span>
                </span>
              </label>
            ) : (
              <p className="muted small">
                {type.id} has no display QEMU can show; the guest uses it through its own driver.
              </p>
            )}
          </>
        ) : null}

        {step === 'check' ? (
          <>
            {mode === 'add' && proposed ? (
              <p className="muted">
                Checking <strong>{proposed.type}</strong> on {proposed.parent} (
                {inv?.devices.some((d) => d.uuid === proposed.uuid) ? 'device' : 'new device'} {proposed.uuid}) for “
                {vm.name}”.
              </p>
            ) : null}
            {mode === 'check' && saved.length === 0 ? (
              <p className="muted">“{vm.name}” has no mediated devices; these are the host’s checks only.</p>
            ) : null}
            {report && headline ? (
              <div className={`check-head check-head-${headline.tone}`} role="status">
                <strong>{headline.text}</strong>
                <span className="check-head-actions">
                  {report.fixActions.length > 0 ? (
                    <Button
                      variant="primary"
                      disabled={busy !== null}
                      aria-busy={busy === 'fix' || undefined}
                      onClick={() => void applyFixes()}
                    >
                      Fix with administrator rights ({report.fixActions.length})
                    </Button>
                  ) : null}
                  <Button
                    disabled={busy !== null}
                    aria-busy={busy === 'check' || undefined}
                    onClick={() => void runCheck(assignments)}
                  >
                    Check again
                  </Button>
                </span>
              </div>
            ) : busy === 'check' ? (
              <p className="muted">Checking the host…</p>
            ) : null}
            {busy === 'fix' ? (
              <Notice title="Waiting for the administrator password">
                Your desktop asks for it (polkit). vmdesk applies every fix in one go.
              </Notice>
            ) : null}
            {manual ? (
              <Notice tone="warn" title="Run this in a terminal">
                <p>
                  This system has no pkexec, so vmdesk cannot ask for the password itself. The command applies the fixes
                  vmdesk can make (those marked below); then press Check again.
                </p>
                <CopyCode text={manual} />
              </Notice>
            ) : null}
            {report ? (
              <ul className="check-list">
                {problemsFirst(report.checks).map((c) => (
                  <CheckItem key={c.id + (c.device ?? '')} c={c} />
                ))}
              </ul>
            ) : null}
            {mode === 'add' && !stopped ? (
              <Notice tone="warn">
                “{vm.name}” is {vm.state}: shut it down to assign the vGPU (a VM’s devices are fixed while it runs).
              </Notice>
            ) : null}
          </>
        ) : null}

        {step === 'done' && proposed ? (
          <Notice title={`“${vm.name}” has a vGPU`}>
            <p>
              {proposed.type} on {proposed.parent}, device {proposed.uuid}
              {proposed.display ? ', shown in the console' : ''}.
            </p>
            <p>
              {report?.ready
                ? 'Every check passed. Start the VM: vmdesk runs the checks again first.'
                : 'Some checks still fail: the VM will not start until they pass. Open “Check vGPU” in the Overview to see them.'}
            </p>
          </Notice>
        ) : null}
      </div>
    </Dialog>
  );
}
