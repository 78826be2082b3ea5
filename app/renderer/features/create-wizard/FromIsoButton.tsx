/** "From ISO…": Electron's file dialog, or in a browser a file input (then the same upload as a drop). */
import { useRef } from 'react';
import { fileIntake } from '../../api/current.js';
import { Button } from '../../components/Button.js';
import { IconIso } from '../../components/icons.js';
import { openIsoFile, pickIsoPath } from '../../store/wizard-actions.js';

export function FromIsoButton() {
  const input = useRef<HTMLInputElement>(null);
  const intake = fileIntake();
  if (!intake) return null;
  return (
    <>
      <Button icon={<IconIso />} onClick={() => (intake.kind === 'path' ? void pickIsoPath() : input.current?.click())}>
        From ISO…
      </Button>
      {intake.kind === 'upload' ? (
        <input
          ref={input}
          type="file"
          accept=".iso,.img"
          hidden
          data-testid="iso-file-input"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) void openIsoFile(file);
          }}
        />
      ) : null}
    </>
  );
}
