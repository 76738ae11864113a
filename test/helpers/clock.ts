/** A clock the tests move by hand, so no test sleeps to let time pass. */
export class TestClock {
  constructor(public ms = Date.UTC(2026, 10, 28, 12, 0, 0)) {}
  readonly now = (): number => this.ms;
  get seconds(): number {
    return Math.floor(this.ms / 1000);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
