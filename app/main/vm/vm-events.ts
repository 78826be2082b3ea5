import type { ContractEvents, EventName } from '../common/contract.js';

type Listener<E extends EventName> = (data: ContractEvents[E]) => void;

/** Typed events; every subscription returns its disposer. A throwing listener does not stop the others. */
export class VmEvents {
  private readonly listeners = new Map<EventName, Set<Listener<EventName>>>();

  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<EventName>);
    return () => set.delete(listener as Listener<EventName>);
  }

  emit<E extends EventName>(event: E, data: ContractEvents[E]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        (l as Listener<E>)(data);
      } catch {
        // A broken subscriber (a closed socket) must not break state changes for everyone.
      }
    }
  }
}
