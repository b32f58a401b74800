// got's dependency @sindresorhus/is makes two Intl.ListFormat objects when it is imported, to word
// its type errors. The first Intl object a process makes loads ICU's data and services: 5-7 MB
// more RSS (the agent idle and over 1,000 VMs, measured: README, "Known limits"), carried by an
// agent on every host for messages it may never word. Installed before the commands load, a
// ListFormat keeps its arguments and builds the real formatter when it is first used.
// The one difference: an invalid locale or option throws at that first use, not at `new`.

const Real = Intl.ListFormat;

class DeferredListFormat {
  readonly #args: ConstructorParameters<typeof Intl.ListFormat>;
  #real: Intl.ListFormat | null = null;

  constructor(...args: ConstructorParameters<typeof Intl.ListFormat>) {
    this.#args = args;
  }

  static supportedLocalesOf(...args: Parameters<typeof Intl.ListFormat.supportedLocalesOf>): string[] {
    return Real.supportedLocalesOf(...args);
  }

  #get(): Intl.ListFormat {
    return (this.#real ??= new Real(...this.#args));
  }

  format(list: Iterable<string>): string {
    return this.#get().format(list);
  }

  formatToParts(list: Iterable<string>): { type: 'element' | 'literal'; value: string }[] {
    return this.#get().formatToParts(list);
  }

  resolvedOptions(): Intl.ResolvedListFormatOptions {
    return this.#get().resolvedOptions();
  }
}

/** Makes `Intl.ListFormat` the deferred one for this process (idempotent). */
export function deferListFormat(): void {
  (Intl as unknown as { ListFormat: unknown }).ListFormat = DeferredListFormat;
}
