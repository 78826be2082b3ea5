import { useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { IconCamera, IconFit, IconFullscreen, IconKeyboard } from '../../components/icons.js';
import { MenuButton, type MenuItem } from '../../components/MenuButton.js';
import { EmptyPanel } from '../../components/Notice.js';
import { showError } from '../../store/actions.js';
import { CTRL_ALT_FN, RELEASE_SHORTCUT, SPECIAL_KEYS, type SpecialKey } from './keys.js';
import { NotRunning } from './NotRunning.js';
import { screenshotFileName } from './screenshot-name.js';
import { consoleAvailable, getConsoleSession } from './sessions.js';
import { readClipboard } from './host-clipboard.js';
import { clipboardAvailability, guestFollowsWindow, sizingTitle } from './screen-model.js';
import { TypeTextDialog } from './TypeTextDialog.js';
import { UsbMenu } from '../usb/UsbMenu.js';
import { useAttachedSession } from './use-console-session.js';
import { FULLSCREEN_TARGET, toggleFullscreen } from '../commands/fullscreen.js';

const PAUSED_KEYS = 'Resume the VM first: a paused VM drops the keys it is sent.';
const noSubscribe = () => () => {};
const notGrabbed = () => false;
const noCopy = () => null;

/** A clipboard with an arrow into the screen, for "Paste to guest". */
const IconPaste = () => (
  <svg width="16" height="16" viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="1.5">
    <rect x="3" y="2.5" width="10" height="12" rx="1.5" />
    <path d="M6 2.5h4v2H6zM8 7v5M5.8 9.8L8 12l2.2-2.2" strokeLinecap="round" strokeLinejoin="round" />
  </svg>
);

/** A page with lines of text, for "Type text…". */
const IconTypeText = () => (
  <svg
    width="16"
    height="16"
    viewBox="0 0 16 16"
    fill="none"
    stroke="currentColor"
    strokeWidth="1.6"
    strokeLinecap="round"
  >
    <path d="M3 4h10M3 7.5h10M3 11h5.5" />
    <path d="M11.5 10v4M10 14h3" strokeWidth="1.3" />
  </svg>
);

function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function ScreenTab({ vm }: { vm: VmSummary }) {
  const live = consoleAvailable(vm.state);
  const hasDisplay = vm.definition?.display !== 'none';
  const session = useMemo(() => (live && hasDisplay ? getConsoleSession(vm, 'vnc') : null), [vm.id, live, hasDisplay]);
  const { ref, status } = useAttachedSession(session);
  const frameRef = useRef<HTMLDivElement>(null);
  const [scale, setScale] = useState(session?.scaleViewport ?? true);
  const [resize, setResize] = useState(session?.resizeSession ?? false);
  const [typing, setTyping] = useState(false);
  const [pasteNote, setPasteNote] = useState<{ tone: 'info' | 'error'; text: string } | null>(null);
  const grabbed = useSyncExternalStore(session?.subscribe ?? noSubscribe, session?.getKeyboardGrabbed ?? notGrabbed);
  const copy = useSyncExternalStore(session?.subscribe ?? noSubscribe, session?.getGuestCopy ?? noCopy);

  if (!hasDisplay) {
    return (
      <EmptyPanel title="This VM has no screen">It was defined without a display. Use the serial console.</EmptyPanel>
    );
  }
  if (!session) return <NotRunning vm={vm} what="its screen" />;

  const connected = status.phase === 'connected';
  const paused = vm.state === 'paused';
  const canType = connected && !paused;
  const clip = clipboardAvailability(vm.definition, { connected, paused, pending: vm.pending });
  const canFollow = guestFollowsWindow(vm.definition?.display);
  const pasteToGuest = async () => {
    const r = await readClipboard();
    if ('error' in r)
      setPasteNote({
        tone: 'error',
        text: r.error.replace('paste into the box with Ctrl+V', 'use Type text… and paste there'),
      });
    else if (!r.text) setPasteNote({ tone: 'error', text: 'The clipboard holds no text.' });
    else if (!session.pasteToGuest(r.text))
      setPasteNote({ tone: 'error', text: 'Not sent: the screen is not connected.' });
    else
      setPasteNote({
        tone: 'info',
        text: `Offered ${r.text.length} characters to the guest: paste there with its own Paste. Nothing? The guest has no spice-vdagent: use Type text….`,
      });
    session.focus();
  };
  const keyItem = (k: SpecialKey): MenuItem => ({
    id: k.id,
    label: k.label,
    name: k.label,
    onSelect: () => {
      if (!session.sendCombo(k.keys)) showError(`${k.label} was not sent: the screen is not connected.`, vm.id);
      session.focus();
    },
  });
  const screenshot = async () => {
    const png = await session.toPng();
    if (png) download(png, screenshotFileName(vm.name, new Date()));
    else showError('There is no picture to save yet: the screen is not connected.', vm.id);
  };
  const fullscreen = () => {
    if (frameRef.current) toggleFullscreen(frameRef.current, () => session.focus());
  };

  return (
    <div className="console">
      <div className="console-bar">
        <Button
          small
          icon={<IconFit />}
          data-testid="screen-sizing"
          disabled={!canFollow}
          title={sizingTitle(vm.definition?.display, canFollow && resize ? 'resize' : 'fit')}
          onClick={() => {
            session.setResizeSession(!resize);
            setResize(!resize);
          }}
        >
          {canFollow && resize ? 'Resize guest' : 'Fit to window'}
        </Button>
        {canFollow && resize ? null : (
          <Button
            small
            aria-pressed={scale}
            title="Scale the guest’s picture to the window (off: actual size, with scroll bars)."
            onClick={() => {
              session.setScaleViewport(!scale);
              setScale(!scale);
            }}
          >
            Scale
          </Button>
        )}
        <MenuButton
          label="Send key"
          icon={<IconKeyboard />}
          disabled={!canType}
          title={paused ? PAUSED_KEYS : undefined}
          sections={[
            { items: [SPECIAL_KEYS.ctrlAltDel, SPECIAL_KEYS.ctrlAltBackspace].map(keyItem) },
            {
              title: 'Ctrl+Alt+',
              columns: 4,
              items: CTRL_ALT_FN.map((k) => ({ ...keyItem(k), label: k.label.replace('Ctrl+Alt+', '') })),
            },
            { items: [SPECIAL_KEYS.printScreen, SPECIAL_KEYS.sysRq].map(keyItem) },
          ]}
        />
        <Button
          small
          icon={<IconTypeText />}
          disabled={!canType}
          title={paused ? PAUSED_KEYS : undefined}
          onClick={() => setTyping(true)}
        >
          Type text…
        </Button>
        <Button
          small
          icon={<IconPaste />}
          disabled={!clip.enabled}
          data-testid="paste-to-guest"
          title={clip.enabled ? clip.hint : clip.reason}
          onClick={() => void pasteToGuest()}
        >
          Paste to guest
        </Button>
        {/* A libvirt VM's USB devices are libvirt's (virsh attach-device): not offered here. */}
        {vm.host ? null : (
          <UsbMenu
            vm={vm}
            disabled={!connected}
            title={connected ? 'Plug host USB devices into this VM, or out of it.' : 'The screen is not connected.'}
          />
        )}
        <Button small icon={<IconCamera />} disabled={!connected} onClick={() => void screenshot()}>
          Screenshot
        </Button>
        <Button
          small
          icon={<IconFullscreen />}
          title="The guest’s screen alone, full screen (F11)"
          onClick={fullscreen}
        >
          Full screen
        </Button>
        {connected ? (
          <button
            type="button"
            className={`kbd-grab${grabbed ? ' kbd-grab-on' : ''}`}
            data-testid="keyboard-grab"
            aria-pressed={grabbed}
            title={
              grabbed
                ? 'The keys you type go to the guest. Click here or press the shortcut to keep them in this window.'
                : 'The keys you type stay in this window. Click the screen (or here) to type in the guest.'
            }
            // Keep the focus where it is: the press itself must not take the keyboard from the screen.
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => (grabbed ? session.releaseKeyboard() : session.focus())}
          >
            <span className="kbd-grab-dot" aria-hidden="true" />
            {grabbed ? `${RELEASE_SHORTCUT.label} releases the keyboard` : 'Keyboard released: click the screen'}
          </button>
        ) : null}
        <span className={`conn conn-${status.phase}`} aria-live="polite">
          {status.phase === 'connecting'
            ? 'Connecting…'
            : connected
              ? 'Connected'
              : `${status.message ?? 'Disconnected'}${live ? ' Reconnecting…' : ''}`}
        </span>
      </div>
      {copy || pasteNote ? (
        <div className="console-notes" aria-live="polite">
          {copy ? (
            'ok' in copy.outcome ? (
              <span className="clip-note" key={copy.seq} data-testid="guest-copy-note">
                Copied from the guest: {copy.text.length} characters.
              </span>
            ) : (
              <span className="clip-note clip-note-error" data-testid="guest-copy-note">
                The guest copied {copy.text.length} characters; {copy.outcome.error}{' '}
                <Button small onClick={() => void session.copyAgain()}>
                  Copy to this computer
                </Button>
              </span>
            )
          ) : null}
          {pasteNote ? (
            <span
              className={`clip-note${pasteNote.tone === 'error' ? ' clip-note-error' : ''}`}
              data-testid="paste-note"
            >
              {pasteNote.text}
            </span>
          ) : null}
        </div>
      ) : null}
      <div
        className={`vnc-frame${scale && !(canFollow && resize) ? ' vnc-scaled' : ''}`}
        ref={frameRef}
        {...{ [FULLSCREEN_TARGET]: '' }}
      >
        <div className="vnc-screen" data-testid="vnc-screen" ref={ref} />
      </div>
      {typing ? (
        <TypeTextDialog
          vmName={vm.name}
          session={session}
          onClose={() => setTyping(false)}
          onTyped={() => {
            setTyping(false);
            // After the dialog gave the focus back to its opener (on unmount): to the guest.
            setTimeout(() => session.focus(), 0);
          }}
        />
      ) : null}
    </div>
  );
}
