/** "From ISO…": Electron's file dialog, or in a browser a file input (then the same upload as a drop). */
import { fileIntake } from '../../api/current.js';
import { Button } from '../../components/Button.js';
import { IconIso } from '../../components/icons.js';
import { openIsoFile } from '../../store/wizard-actions.js';
import { modKeyLabel } from '../commands/shortcuts.js';
import { setIsoFileInput, startCreateFromIso } from './from-iso.js';

export function FromIsoButton() {
  const intake = fileIntake();
  if (!intake) return null;
  return (
    <>
      <Button
        icon={<IconIso />}
        title={`Create a VM from an installer ISO (${modKeyLabel('O')})`}
        onClick={() => void startCreateFromIso()}
      >
        From ISO…
      </Button>
      {intake.kind === 'upload' ? (
        <input
          ref={setIsoFileInput}
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
