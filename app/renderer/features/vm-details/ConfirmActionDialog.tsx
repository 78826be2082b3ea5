/**
 * "Force off “web”?" / "Reboot “web”?": asked before an action that loses what the guest has not
 * saved, unless Preferences (Confirmations) say not to. "Do not ask again" turns that off there.
 */
import { useId, useState } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { CheckField } from '../../components/CheckField.js';
import { Dialog } from '../../components/Dialog.js';
import { answerConfirmAction } from '../../store/actions.js';
import type { ConfirmedAction } from '../../store/store.js';

const WORDS: Record<ConfirmedAction, { title: string; button: string; body: string }> = {
  stop: {
    title: 'Force off',
    button: 'Force off',
    body: 'The power is cut at once, so whatever the guest has not saved is lost. Shut down asks the guest to stop cleanly instead.',
  },
  reboot: {
    title: 'Reboot',
    button: 'Reboot',
    body: 'The VM is reset at once, like pressing a reset button: whatever the guest has not saved is lost.',
  },
};

export function ConfirmActionDialog({ vm, action }: { vm: VmSummary; action: ConfirmedAction }) {
  const [dontAsk, setDontAsk] = useState(false);
  const id = useId();
  const w = WORDS[action];
  return (
    <Dialog
      title={`${w.title} “${vm.name}”?`}
      onClose={() => void answerConfirmAction(false)}
      footer={
        <>
          {/* Enter keeps the VM running: the careful answer has the focus. */}
          <Button autoFocus onClick={() => void answerConfirmAction(false)}>
            Cancel
          </Button>
          <Button variant="danger" onClick={() => void answerConfirmAction(true, dontAsk)}>
            {w.button}
          </Button>
        </>
      }
    >
      <p>{w.body}</p>
      <CheckField
        id={`${id}-dont-ask`}
        label="Do not ask again"
        checked={dontAsk}
        onChange={setDontAsk}
        hint="Preferences (Confirmations) turns the question back on."
      />
    </Dialog>
  );
}
