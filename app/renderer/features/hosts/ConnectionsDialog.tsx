import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { HostConnection } from '../../../main/common/connection-types.js';
import { Button } from '../../components/Button.js';
import { CheckField } from '../../components/CheckField.js';
import { Dialog } from '../../components/Dialog.js';
import { Field } from '../../components/Field.js';
import { Notice } from '../../components/Notice.js';
import { closeDialog, connectHost, disconnectHost, messageOf, reconnectHost } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import {
  HOST_STATE_TONE,
  HOST_STATE_WORDS,
  URI_EXAMPLES,
  hostProblem,
  isLocalHost,
  uriFieldProblem,
} from './host-model.js';

/**
 * The hosts whose VMs the list shows: this computer, and libvirt connections with their state,
 * libvirt's error and what to do; Reconnect, Disconnect, Forget; and the form that adds one.
 */
export function ConnectionsDialog() {
  const hosts = useVmdesk((s) => s.hosts);
  return (
    <Dialog
      title="Connections"
      subtitle="The hosts whose VMs vmdesk shows: this computer, and libvirt hosts — its system daemon, or another computer over SSH."
      wide
      onClose={closeDialog}
      // One primary button per dialog: here it is Connect (the form's own), so Done is a plain one.
      footer={<Button onClick={closeDialog}>Done</Button>}
    >
      <ul className="conn-list" aria-label="Connections">
        {hosts.map((h) => (
          <ConnectionRow key={h.id} h={h} />
        ))}
      </ul>
      <AddConnectionForm />
    </Dialog>
  );
}

function ConnectionRow({ h }: { h: HostConnection }) {
  const callError = useVmdesk((s) => s.hostErrors[h.id]);
  const busy = useVmdesk((s) => s.hostBusy[h.id]);
  const online = useVmdesk((s) => s.connection === 'open');
  const vmCount = useVmdesk((s) => Object.values(s.vms).filter((v) => (v.host?.id ?? 'local') === h.id).length);
  const local = isLocalHost(h);
  const problem = local ? undefined : hostProblem(h, callError);
  const locked = !online || busy !== undefined;
  const up = h.state === 'connected' || h.state === 'connecting';
  return (
    <li className="conn-row" aria-label={h.label} data-host={h.id}>
      <div className="conn-line">
        <strong className="conn-name" title={h.label}>
          {h.label}
        </strong>
        <span className={`state state-${HOST_STATE_TONE[h.state]}`} data-testid="host-state">
          <span className="state-dot" aria-hidden="true" />
          <span>{busy === 'connect' ? HOST_STATE_WORDS.connecting : HOST_STATE_WORDS[h.state]}</span>
        </span>
        {local ? null : (
          <div className="conn-actions">
            {up ? (
              <Button
                small
                disabled={locked}
                aria-busy={busy === 'disconnect' || undefined}
                aria-label={`Disconnect ${h.label}`}
                title="Close the connection; its VMs leave the list (they keep running under libvirt)"
                onClick={() => void disconnectHost(h.id, false)}
              >
                Disconnect
              </Button>
            ) : (
              <Button
                small
                disabled={locked}
                aria-busy={busy === 'connect' || undefined}
                aria-label={`Reconnect ${h.label}`}
                onClick={() => void reconnectHost(h.id)}
              >
                {busy === 'connect' ? 'Connecting…' : 'Reconnect'}
              </Button>
            )}
            <Button
              small
              variant="danger"
              disabled={locked}
              aria-label={`${h.remembered ? 'Forget' : 'Remove'} ${h.label}`}
              title={
                h.remembered
                  ? 'Disconnect and take it out of the settings: vmdesk no longer connects to it at start'
                  : 'Disconnect and take it off this list'
              }
              onClick={() => void disconnectHost(h.id, true)}
            >
              {h.remembered ? 'Forget' : 'Remove'}
            </Button>
          </div>
        )}
      </div>
      <div className="conn-meta">
        {local ? (
          <span>vmdesk’s own driver: QEMU runs as you, no daemon.</span>
        ) : (
          <>
            <code>{h.uri}</code>
            {h.hypervisor ? (
              <span>
                · {h.hypervisor.hostname} · libvirt {h.hypervisor.libvirtVersion}
              </span>
            ) : null}
            {h.state === 'connected' ? <span>· {vmCount === 1 ? '1 VM' : `${vmCount} VMs`}</span> : null}
            <span>· {h.remembered ? 'connects at start' : 'this session only'}</span>
          </>
        )}
      </div>
      {problem ? (
        <div className="conn-problem">
          <p className="conn-problem-text">{problem.text}</p>
          {problem.fix ? <p>{problem.fix}</p> : null}
        </div>
      ) : null}
    </li>
  );
}

type Outcome =
  { kind: 'connecting'; uri: string } | { kind: 'failed'; message: string } | { kind: 'done'; text: string };

function AddConnectionForm() {
  const id = useId();
  const titleId = useId();
  const input = useRef<HTMLInputElement>(null);
  const [uri, setUri] = useState('');
  const [remember, setRemember] = useState(true);
  const [checked, setChecked] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const online = useVmdesk((s) => s.connection === 'open');
  const problem = uriFieldProblem(uri);
  const connecting = outcome?.kind === 'connecting';
  const failure = useRef<HTMLDivElement>(null);
  // The dialog scrolls: libvirt's answer must not land out of sight under the list.
  useEffect(() => {
    if (outcome?.kind === 'failed') failure.current?.scrollIntoView({ block: 'nearest' });
  }, [outcome]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setChecked(true);
    if (problem || connecting) {
      input.current?.focus();
      return;
    }
    const typed = uri.trim();
    setOutcome({ kind: 'connecting', uri: typed });
    try {
      const c = await connectHost(typed, remember);
      setOutcome({ kind: 'done', text: `Connected to ${c.label}. Its VMs are in the list.` });
      setUri('');
      setChecked(false);
    } catch (err) {
      setOutcome({ kind: 'failed', message: messageOf(err) });
    }
  };

  return (
    <form className="conn-add" aria-labelledby={titleId} onSubmit={(e) => void submit(e)} noValidate>
      <h3 className="conn-add-title" id={titleId}>
        Add connection
      </h3>
      <Field
        id={`${id}-uri`}
        label="libvirt URI"
        error={checked ? problem : undefined}
        hint="Over SSH vmdesk uses your own ssh config, agent and known_hosts; it stores no passwords."
      >
        {(p) => (
          <input
            {...p}
            ref={input}
            className="conn-uri"
            type="text"
            autoFocus
            spellCheck={false}
            autoCapitalize="off"
            autoComplete="off"
            placeholder="qemu:///system"
            value={uri}
            disabled={connecting}
            onBlur={() => setChecked(uri.trim() !== '')}
            onChange={(e) => setUri(e.target.value)}
          />
        )}
      </Field>
      <div className="conn-examples" role="group" aria-label="Examples">
        <span>Examples:</span>
        {URI_EXAMPLES.map((x) => (
          <Button
            key={x.uri}
            small
            title={x.what}
            disabled={connecting}
            onClick={() => {
              setUri(x.uri);
              setChecked(false);
              input.current?.focus();
            }}
          >
            {x.uri}
          </Button>
        ))}
      </div>
      <CheckField
        id={`${id}-remember`}
        label="Remember"
        hint="Keep it in vmdesk’s settings and connect again when vmdesk starts."
        checked={remember}
        disabled={connecting}
        onChange={setRemember}
      />
      <div className="conn-add-actions">
        <Button type="submit" variant="primary" disabled={!online || connecting} aria-busy={connecting || undefined}>
          {connecting ? 'Connecting…' : 'Connect'}
        </Button>
        <p role="status" className="conn-progress">
          {outcome?.kind === 'connecting'
            ? `Connecting to ${outcome.uri}…`
            : outcome?.kind === 'done'
              ? outcome.text
              : ''}
        </p>
      </div>
      {outcome?.kind === 'failed' ? (
        <div ref={failure}>
          <Notice tone="error" onDismiss={() => setOutcome(null)}>
            {outcome.message}
          </Notice>
        </div>
      ) : null}
    </form>
  );
}
