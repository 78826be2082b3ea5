import { useMemo, useRef, useState } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { IconCamera, IconFit, IconFullscreen, IconKeyboard } from '../../components/icons.js';
import { EmptyPanel } from '../../components/Notice.js';
import { showError } from '../../store/actions.js';
import { NotRunning } from './NotRunning.js';
import { screenshotFileName } from './screenshot-name.js';
import { consoleAvailable, getConsoleSession } from './sessions.js';
import { useAttachedSession } from './use-console-session.js';

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

  if (!hasDisplay) {
    return (
      <EmptyPanel title="This VM has no screen">It was defined without a display. Use the serial console.</EmptyPanel>
    );
  }
  if (!session) return <NotRunning vm={vm} what="its screen" />;

  const connected = status.phase === 'connected';
  const screenshot = async () => {
    const png = await session.toPng();
    if (png) download(png, screenshotFileName(vm.name, new Date()));
    else showError('There is no picture to save yet: the screen is not connected.');
  };
  const fullscreen = () => {
    const el = frameRef.current;
    if (!el) return;
    if (document.fullscreenElement) void document.exitFullscreen();
    else
      el.requestFullscreen().then(
        () => session.focus(),
        (e: unknown) => showError(`Full screen was refused: ${e instanceof Error ? e.message : String(e)}`),
      );
  };

  return (
    <div className="console">
      <div className="console-bar">
        <Button
          small
          icon={<IconFit />}
          aria-pressed={scale}
          onClick={() => {
            session.setScaleViewport(!scale);
            setScale(!scale);
          }}
        >
          Scale to fit
        </Button>
        <Button
          small
          icon={<IconKeyboard />}
          disabled={!connected}
          onClick={() => {
            session.sendCtrlAltDel();
            session.focus();
          }}
        >
          Ctrl+Alt+Del
        </Button>
        <Button small icon={<IconCamera />} disabled={!connected} onClick={() => void screenshot()}>
          Screenshot
        </Button>
        <Button small icon={<IconFullscreen />} onClick={fullscreen}>
          Full screen
        </Button>
        <span className={`conn conn-${status.phase}`} aria-live="polite">
          {status.phase === 'connecting'
            ? 'Connecting…'
            : connected
              ? 'Connected'
              : `${status.message ?? 'Disconnected'}${live ? ' Reconnecting…' : ''}`}
        </span>
      </div>
      <div className={`vnc-frame${scale ? ' vnc-scaled' : ''}`} ref={frameRef}>
        <div className="vnc-screen" data-testid="vnc-screen" ref={ref} />
      </div>
    </div>
  );
}
