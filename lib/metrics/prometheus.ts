/**
 * Prometheus text exposition format 0.0.4: metric families with HELP and TYPE, samples with escaped labels,
 * rendered in a stable order. Accepted by `promtool check metrics` and node_exporter's textfile collector.
 */

export type MetricType = "gauge" | "counter" | "untyped";

export type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly help: string;
  readonly type: MetricType;
  readonly samples: Map<string, { labels: Labels; value: number }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Turns free text ("http response 200") into a metric name part ("http_response_200"). */
export function sanitizeName(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "").replace(/_+/g, "_");
  return s === "" ? "unnamed" : /^[0-9]/.test(s) ? `_${s}` : s;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class Exposition {
  private readonly families = new Map<string, Family>();

  /** Declares a family (idempotent for the same type); returns its name. */
  family(name: string, type: MetricType, help: string): string {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    const existing = this.families.get(name);
    if (existing && existing.type !== type) throw new Error(`metric ${name} declared as ${existing.type} and ${type}`);
    if (!existing) this.families.set(name, { help, type, samples: new Map() });
    return name;
  }

  /** Sets one sample; the same label set again replaces the value. */
  set(name: string, labels: Labels, value: number): void {
    const f = this.families.get(name);
    if (!f) throw new Error(`metric ${name} was not declared`);
    for (const k of Object.keys(labels)) if (!LABEL.test(k) || k.startsWith("__")) throw new Error(`invalid label name ${k}`);
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    f.samples.set(key, { labels, value });
  }

  render(): string {
    const out: string[] = [];
    for (const name of [...this.families.keys()].sort()) {
      const f = this.families.get(name)!;
      if (f.samples.size === 0) continue;
      out.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`);
      const lines = [...f.samples.values()].map(({ labels, value }) => {
        const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
        const l = entries.length ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
        return `${name}${l} ${formatValue(value)}`;
      });
      out.push(...lines.sort());
    }
    return out.length ? `${out.join("\n")}\n` : "";
  }
}
