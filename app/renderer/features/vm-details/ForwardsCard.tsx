import { useId, useState, type FormEvent } from 'react';
import type { PortForward, VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { CopyButton } from '../../components/CopyButton.js';
import { Field, type FieldControlProps } from '../../components/Field.js';
import { Notice } from '../../components/Notice.js';
import { messageOf } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { addForward, removeForward } from './forward-actions.js';
import {
  EMPTY_FORWARD_FORM,
  forwardLabel,
  forwardTiming,
  hostAddrOf,
  listenLabel,
  placeForwardError,
  sshCommand,
  timingText,
  toForwardInput,
  toRemoveInput,
  type ForwardErrors,
  type ForwardFieldId,
  type ForwardForm,
  type ForwardProto,
  type ListenOn,
} from './forward-form.js';

/** Refusals under the add row, in the order of its inputs. */
const ERROR_ORDER: readonly (keyof ForwardErrors)[] = ['proto', 'hostPort', 'guestPort', 'listen', 'form'];

/**
 * The Overview's "Port forwards": what reaches the guest from this computer, a way to remove
 * each and to add one, and whether that happens now (a running VM) or at the next start.
 */
export function ForwardsCard({ vm }: { vm: VmSummary }) {
  const d = vm.definition;
  const online = useVmdesk((s) => s.connection === 'open');
  const [form, setForm] = useState<ForwardForm>(EMPTY_FORWARD_FORM);
  const [errors, setErrors] = useState<ForwardErrors>({});
  const [removeError, setRemoveError] = useState<string | null>(null);
  /** 'add', or the key of the forward being removed. */
  const [busy, setBusy] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const base = useId();
  if (!d) return null;
  const forwards = d.network.forwards;
  const timing = forwardTiming(vm.state);
  const noNetwork = d.network.mode === 'none';
  const locked = !online || busy !== null;
  const shown = ERROR_ORDER.filter((k) => errors[k] !== undefined);
  const errorId = (k: keyof ForwardErrors) => `${base}-${k}-error`;
  /** An input's props with its refusal: marked invalid, and described by the message under the row. */
  const marked = (k: ForwardFieldId, p: FieldControlProps): FieldControlProps => ({
    ...p,
    'aria-invalid': errors[k] !== undefined,
    'aria-describedby':
      [errors[k] !== undefined ? errorId(k) : '', p['aria-describedby'] ?? ''].filter(Boolean).join(' ') || undefined,
  });

  const set = <K extends keyof ForwardForm>(k: K, value: ForwardForm[K]) => {
    setForm((f) => ({ ...f, [k]: value }));
    setStatus('');
    if (errors[k] || errors.form) setErrors((x) => ({ ...x, [k]: undefined, form: undefined }));
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = toForwardInput(form, forwards);
    if ('errors' in r) {
      setErrors(r.errors);
      return;
    }
    setBusy('add');
    setErrors({});
    setRemoveError(null);
    try {
      const after = await addForward(vm.id, r.input);
      const label = forwardLabel(r.input);
      setStatus(
        `Added ${label} → guest port ${r.input.guestPort}: ${
          forwardTiming(after.state) === 'now' ? 'listening now.' : 'it listens from the next start.'
        }`,
      );
      setForm(EMPTY_FORWARD_FORM);
    } catch (err) {
      setErrors(placeForwardError(err));
    } finally {
      setBusy(null);
    }
  };

  const remove = async (f: PortForward) => {
    const key = forwardLabel(f);
    setBusy(key);
    setRemoveError(null);
    setStatus('');
    try {
      const after = await removeForward(toRemoveInput(vm.id, f));
      setStatus(`Removed ${key}${forwardTiming(after.state) === 'now' ? ': no longer listening.' : '.'}`);
    } catch (err) {
      setRemoveError(messageOf(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="card card-wide forwards" aria-label="Port forwards">
      <h3 className="card-title">Port forwards</h3>
      {noNetwork ? (
        <p className="muted">This VM has no network, so nothing can be forwarded to it.</p>
      ) : (
        <p className={`forwards-timing forwards-timing-${timing}`} data-testid="forwards-timing">
          {timingText(timing, forwards.length)}
        </p>
      )}
      {forwards.length === 0 ? (
        noNetwork ? null : (
          <p className="muted">
            None. The guest reaches the network; nothing on this computer reaches the guest until you forward a port.
          </p>
        )
      ) : (
        <table className="table forwards-table">
          <thead>
            <tr>
              <th scope="col">Protocol</th>
              <th scope="col">On this computer</th>
              <th scope="col">Guest port</th>
              <th scope="col">Connect</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {forwards.map((f) => {
              const key = forwardLabel(f);
              const ssh = sshCommand(f);
              return (
                <tr key={key} data-testid="forward-row">
                  <td>{f.proto.toUpperCase()}</td>
                  <td>
                    <code>
                      {hostAddrOf(f)}:{f.hostPort}
                    </code>{' '}
                    <span className="muted forward-listen">{listenLabel(f.hostAddr)}</span>
                  </td>
                  <td>
                    <code>{f.guestPort}</code>
                  </td>
                  <td>
                    {ssh ? (
                      <div className="forward-ssh">
                        <code className="forward-ssh-command">{ssh}</code>
                        <CopyButton text={ssh} />
                      </div>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="cell-actions">
                    <Button
                      small
                      variant="danger"
                      disabled={locked}
                      onClick={() => void remove(f)}
                      aria-label={`Remove ${key}`}
                    >
                      {busy === key ? 'Removing…' : 'Remove'}
                    </Button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {removeError ? (
        <div className="forwards-remove-error">
          <Notice tone="error">{removeError}</Notice>
        </div>
      ) : null}

      {noNetwork ? null : (
        <form
          className="forwards-add"
          aria-label={`Add a port forward to ${vm.name}`}
          onSubmit={(e) => void submit(e)}
          noValidate
        >
          <fieldset className="forwards-add-fields" disabled={locked}>
            <legend className="forwards-add-title">Add a forward</legend>
            <div className="forwards-add-row">
              <Field id={`${base}-proto`} label="Protocol">
                {(p) => (
                  <select
                    {...marked('proto', p)}
                    value={form.proto}
                    onChange={(e) => set('proto', e.target.value as ForwardProto)}
                  >
                    <option value="tcp">TCP</option>
                    <option value="udp">UDP</option>
                  </select>
                )}
              </Field>
              <Field id={`${base}-host`} label="Host port">
                {(p) => (
                  <input
                    {...marked('hostPort', p)}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={65535}
                    placeholder="e.g. 2222"
                    value={form.hostPort}
                    onChange={(e) => set('hostPort', e.target.value)}
                  />
                )}
              </Field>
              <Field id={`${base}-guest`} label="Guest port">
                {(p) => (
                  <input
                    {...marked('guestPort', p)}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={65535}
                    value={form.guestPort}
                    onChange={(e) => set('guestPort', e.target.value)}
                  />
                )}
              </Field>
              <Field
                id={`${base}-listen`}
                label="Listen on"
                hint={
                  form.listen === 'all' ? (
                    <span className="applies-later">
                      Other computers that can reach this one can connect to the guest.
                    </span>
                  ) : undefined
                }
              >
                {(p) => (
                  <select
                    {...marked('listen', p)}
                    value={form.listen}
                    onChange={(e) => set('listen', e.target.value as ListenOn)}
                  >
                    <option value="local">This computer only (127.0.0.1)</option>
                    <option value="all">Every network (0.0.0.0)</option>
                  </select>
                )}
              </Field>
              <div className="forwards-add-submit">
                <Button type="submit" variant="primary">
                  {busy === 'add' ? 'Adding…' : 'Add forward'}
                </Button>
              </div>
            </div>
          </fieldset>
          {shown.length > 0 ? (
            // One place under the row for every refusal: the driver's sentences are too long for a
            // port-wide column. The inputs they concern are marked invalid and point here.
            <div className="forwards-add-errors" role="alert">
              {shown.map((k) => (
                <p key={k} id={errorId(k)} className="field-error">
                  {errors[k]}
                </p>
              ))}
            </div>
          ) : null}
        </form>
      )}
      <p role="status" className="muted forwards-status">
        {!online && !noNetwork ? 'Not connected to vmdesk: forwards cannot be changed now.' : status}
      </p>
    </section>
  );
}
