/**
 * The Screen toolbar's USB menu: the host's USB devices, ticked when they are in the VM; choosing
 * one plugs it in or out of the running VM. Devices the user may not open are greyed with the
 * reason, and "How to fix" shows what the doctor says to do.
 */
import { useState } from 'react';
import type { UsbCheck, UsbDevice } from '../../../main/common/usb-types.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { MenuButton, type MenuItem, type MenuSection } from '../../components/MenuButton.js';
import { applyVmChanged, messageOf, requireApi, showError } from '../../store/actions.js';
import { deviceRef, usbIds, usbRows, vmUsb, type UsbRow } from './usb-model.js';

/** A plug: the USB menu's icon. */
const IconUsb = () => (
  <svg width="16" height="16" viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="1.5">
    <path d="M8 1.5v10M5.5 4L8 1.5 10.5 4M8 8.5l-3-2V5M8 10l3-2V6.5" strokeLinecap="round" strokeLinejoin="round" />
    <circle cx="8" cy="13" r="1.6" />
  </svg>
);

type HostList =
  | { phase: 'loading' }
  | { phase: 'error'; message: string }
  | { phase: 'ok'; devices: UsbDevice[]; checks: UsbCheck[] };

export function UsbMenu({ vm, disabled, title }: { vm: VmSummary; disabled?: boolean; title?: string }) {
  const [list, setList] = useState<HostList>({ phase: 'loading' });
  const [persist, setPersist] = useState(false);
  const [fixing, setFixing] = useState<UsbRow | null>(null);
  /** The one-prompt administrator fix for the device in the dialog: running, done, or why not. */
  const [applied, setApplied] = useState<{ phase: 'running' | 'done' | 'manual' | 'failed'; text?: string } | null>(
    null,
  );
  const applyFix = async (row: UsbRow) => {
    setApplied({ phase: 'running' });
    try {
      const r = await requireApi().call('host.usbFix', {
        vendorId: row.device.vendorId,
        productId: row.device.productId,
      });
      setApplied(r.outcome === 'done' ? { phase: 'done' } : { phase: 'manual', text: r.command });
    } catch (err) {
      setApplied({ phase: 'failed', text: messageOf(err) });
    }
  };

  const load = () => {
    setList((l) => (l.phase === 'ok' ? l : { phase: 'loading' }));
    requireApi()
      .call('host.usbDevices', {})
      .then(
        (r) => setList({ phase: 'ok', devices: r.devices, checks: r.checks }),
        (e: unknown) =>
          setList({ phase: 'error', message: `The host’s USB devices could not be read: ${messageOf(e)}` }),
      );
  };

  const entries = vmUsb(vm);
  const devices = list.phase === 'ok' ? list.devices : [];
  const rows = list.phase === 'ok' ? usbRows(list.devices, list.checks, entries) : [];

  const toggle = async (row: UsbRow) => {
    const { device } = row;
    const mine = entries.find((e) => e.device === usbIds(device) || e.device === device.port);
    const plugged = row.attached || row.waiting;
    try {
      const vmNow = plugged
        ? await requireApi().call('vm.usbDetach', { vm: vm.id, device: mine?.device ?? usbIds(device), persist })
        : await requireApi().call('vm.usbAttach', { vm: vm.id, device: deviceRef(device, devices, persist), persist });
      applyVmChanged(vmNow);
    } catch (e) {
      showError(
        `${device.name} was not ${plugged ? 'unplugged from' : 'plugged into'} ${vm.name}: ${messageOf(e)}`,
        vm.id,
      );
    }
  };

  const deviceItem = (row: UsbRow): MenuItem => ({
    id: row.device.port,
    label: row.device.name,
    name: `${row.device.name} (${usbIds(row.device)})`,
    hint: [
      `${usbIds(row.device)} · port ${row.device.port}`,
      row.problem ?? (row.waiting ? 'waiting to be plugged in' : row.attached ? 'in the VM' : ''),
    ]
      .filter(Boolean)
      .join(' — '),
    checked: row.attached || row.waiting,
    disabled: !!row.problem,
    onSelect: () => void toggle(row),
  });

  const blocked = rows.filter((r) => r.problem);
  const sections: MenuSection[] =
    list.phase === 'loading'
      ? [{ note: 'Reading the host’s USB devices…', items: [] }]
      : list.phase === 'error'
        ? [{ note: list.message, items: [] }]
        : rows.length === 0
          ? [{ note: 'There are no USB devices on this host (hubs are not listed).', items: [] }]
          : [
              { title: 'Host USB devices', items: rows.map(deviceItem) },
              ...(blocked.length > 0
                ? [
                    {
                      title: 'Not usable yet',
                      items: blocked.map((r) => ({
                        id: `fix-${r.device.port}`,
                        label: `How to fix: ${r.device.name}`,
                        onSelect: () => setFixing(r),
                      })),
                    },
                  ]
                : []),
            ];
  sections.push({
    items: [
      {
        id: 'persist',
        label: 'Keep for next start',
        hint: 'Also store the change in the VM’s settings, so the device is plugged in at every start.',
        checked: persist,
        keepOpen: true,
        onSelect: () => setPersist((p) => !p),
      },
    ],
  });

  return (
    <>
      <MenuButton label="USB" icon={<IconUsb />} disabled={disabled} title={title} sections={sections} onOpen={load} />
      {fixing ? (
        <Dialog
          title={`Use ${fixing.device.name}`}
          subtitle={`${usbIds(fixing.device)} on port ${fixing.device.port}`}
          onClose={() => {
            setFixing(null);
            setApplied(null);
          }}
          footer={
            <>
              {fixing.fix?.action ? (
                <Button
                  onClick={() => void applyFix(fixing)}
                  disabled={applied?.phase === 'running' || applied?.phase === 'done'}
                  aria-busy={applied?.phase === 'running' || undefined}
                >
                  Install the rule (asks for your password)
                </Button>
              ) : null}
              <Button
                variant="primary"
                onClick={() => {
                  setFixing(null);
                  setApplied(null);
                }}
              >
                Close
              </Button>
            </>
          }
        >
          <p>{fixing.problem}</p>
          {fixing.fix ? (
            <>
              <p>{fixing.fix.text}</p>
              {fixing.fix.command ? (
                <code className="path block" data-testid="usb-fix-command">
                  {fixing.fix.command}
                </code>
              ) : null}
            </>
          ) : (
            <p className="muted">
              QEMU runs as you and opens <code className="path">{fixing.device.node}</code>: give your user read and
              write access to it, e.g. with a udev rule for {usbIds(fixing.device)} (ATTR&#123;idVendor&#125;==&quot;
              {fixing.device.vendorId}&quot;, ATTR&#123;idProduct&#125;==&quot;{fixing.device.productId}&quot;,
              TAG+=&quot;uaccess&quot;).
            </p>
          )}
          {applied?.phase === 'done' ? (
            <p role="status" data-testid="usb-fix-done">
              Installed. The device is yours while you are logged in at this computer; if the VM tried it already, take
              it out and plug it in again from this menu.
            </p>
          ) : applied?.phase === 'manual' ? (
            <p role="status">
              No password prompt could be shown here: run this in a terminal:{' '}
              <code className="path block">{applied.text}</code>
            </p>
          ) : applied?.phase === 'failed' ? (
            <p role="alert">The rule was not installed: {applied.text}</p>
          ) : null}
        </Dialog>
      ) : null}
    </>
  );
}
