// Types of `mtasts/lab` (js/lab/index.js): a whole MTA-STS world on loopback — an embedded DNS
// server authoritative for `test.`, one HTTPS policy host for every `mta-sts.<domain>`, a lab CA made
// at start, the scenario catalogue, an SMTP MX, and real peers (dnsmasq, unbound, Postfix, Exim)
// when installed. Node only. Everything listens on 127.0.0.0/8 or ::1 and nothing else.

/** What `https://mta-sts.<domain>/.well-known/mta-sts.txt` serves in a scenario. */
export interface LabPolicyAnswer {
  status: number;
  contentType: string | null;
  body: string;
  location?: string;
  /** The body followed by filler lines up to `totalBytes`, with backpressure. */
  stream?: { totalBytes: number };
  /** One byte per `intervalMs` after the headers, up to `totalBytes`. */
  trickle?: { intervalMs: number; totalBytes: number };
  /** The policy host's certificate (default: lab CA, `mta-sts.<domain>`). */
  cert?: { ca?: 'lab' | 'untrusted'; names?: string[] };
}

/** One MTA-STS situation a sender can meet (js/lab/scenarios.js). */
export interface LabScenario {
  /** e.g. `enforce-valid`; its policy domain is `<name>.test`. */
  name: string;
  domain: string;
  description: string;
  /** TXT records at `_mta-sts.<domain>`, each a list of character-strings (RFC 8461 §3.1). */
  txt: string[][];
  /** Where the TXT records live instead of `_mta-sts.<domain>` (the draft-era name). */
  txtName?: string;
  /** `_mta-sts.<domain>` never answers (`timeout`) or answers SERVFAIL. */
  dnsFault?: 'timeout' | 'servfail';
  /** null: `mta-sts.<domain>` does not exist. */
  policy: LabPolicyAnswer | null;
  /** MX records; every host resolves to 127.0.0.1 and ::1. */
  mx: Array<{ priority: number; host: string }>;
  /** More TXT records by name, e.g. `_smtp._tls.<domain>` (RFC 8460 §3). */
  extraTxt?: Record<string, string[][]>;
  rotations?: Array<{ mode: string; policy: LabPolicyAnswer }>;
  /** What a correct resolver with an empty cache reports. */
  expect: { status: 'found' | 'none' | 'temperror'; mode?: 'enforce' | 'testing' | 'none'; errorCode?: string; mxMatch?: Record<string, boolean> };
}

/** The fields of a scenario that `update` may change at run time. */
export type LabScenarioPatch = Partial<Pick<LabScenario, 'txt' | 'txtName' | 'dnsFault' | 'policy' | 'mx' | 'extraTxt'>>;

/** A certificate issued by the lab (PEM and DER). */
export interface LabCertificate {
  names: string[];
  certPem: string;
  keyPem: string;
  /** The leaf and its issuer, PEM. */
  chainPem: string;
  certDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

/** A real DNS server started over the lab's zone. */
export interface LabDnsPeer {
  pid: number;
  host: string;
  port: number;
  /** `host:port`, for `dnsServers` / `--dns-server`. */
  server: string;
  stop(): Promise<void>;
}

export interface Lab {
  host: string;
  /** The embedded DNS server: `server` is `'127.0.0.1:PORT'`, for `dnsServers` and `--dns-server`. */
  dns: { host: string; port: number; server: string };
  /** The HTTPS policy host's port, for `policyPort` and `--policy-port`. */
  policyPort: number;
  /** The lab CA (PEM), for `ca` and `--ca-file`; `caCertDer` the same in DER. */
  caPem: string;
  caCertDer: Uint8Array;
  /** A second CA nobody trusts (for the `untrusted` behaviours). */
  untrustedCaPem: string;
  /** The catalogue as it was at start. */
  scenarios: readonly LabScenario[];
  /** HTTPS requests per policy domain. */
  requests: Record<string, number>;
  /** DNS questions, keyed `'name TYPE'`. */
  queries: Record<string, number>;
  /** A scenario as it stands now (after rotate/update). */
  state(name: string): LabScenario;
  /** `id-rotated`: publishes the next id and policy. */
  rotate(name: string): { id: string; mode: string };
  update(name: string, patch: LabScenarioPatch): void;
  reset(name: string): void;
  /** A lab-CA certificate for `hostname` (cached). */
  certFor(hostname: string): LabCertificate;
  issueCert(options: { names: string[]; notBefore?: Date; notAfter?: Date; ca?: 'lab' | 'untrusted' | 'self' }): LabCertificate;
  /** The zone as the DNS servers serve it. */
  zone(): unknown;
  dnsmasqArgs(options: { port: number; pidFile?: string; host?: string }): string[];
  unboundConf(options: { port: number; pidFile?: string; host?: string }): string;
  /** dnsmasq over the same zone (Debian `dnsmasq`); stopped with the lab. */
  startDnsmasq(options?: { port?: number }): Promise<LabDnsPeer>;
  /** unbound over the same zone (Debian `unbound`); stopped with the lab. */
  startUnbound(options?: { port?: number }): Promise<LabDnsPeer>;
  /** Closes everything, peers included: no socket, timer or process left. */
  stop(): Promise<void>;
}

/**
 * Starts the lab on loopback, on ephemeral ports. `standardPorts: true` listens on 53 and 443:
 * only inside a private network namespace (`unshare -n`), never on a shared host.
 * @throws {Error} when `host` is not a loopback address
 */
export function startLab(options?: { host?: string; dnsPort?: number; httpsPort?: number; standardPorts?: boolean }): Promise<Lab>;

/** The scenario catalogue. */
export const scenarios: readonly LabScenario[];
/** The scenario called `name`, or undefined. */
export function scenarioNamed(name: string): LabScenario | undefined;
/** The text of a policy file (RFC 8461 §3.2); `eol` `'\r\n'` for CRLF. */
export function policyText(policy: { mode: string; mx: string[]; maxAge?: number; eol?: string }): string;

/** How the lab MX presents itself to a client that dials one lab MX name. */
export type LabMxBehaviour = 'valid' | 'untrusted' | 'wrong-name' | 'expired';

export interface LabMx {
  /** The SMTP port (on 127.0.0.1, and ::1 when `dualStack`), for `smtpPort` / `--smtp-port`. */
  port: number;
  dualStack: boolean;
  /** Messages received: the policy domain (from the SNI name), envelope, the message, TLS or not. */
  messages: Array<{ domain: string; from: string | null; to: string[]; data: string; secure: boolean; servername: string | null } & Record<string, unknown>>;
  /** Changes the behaviour for one policy domain's MX names. */
  behave(domain: string, behaviour: LabMxBehaviour): void;
  close(): Promise<void>;
}

/**
 * An SMTP MX (STARTTLS, certificate by SNI) for every lab MX name. Needs the optional peer
 * dependency smtp-server (`missing-dependency` otherwise).
 */
export function startLabMx(lab: Lab, options?: { behaviours?: Record<string, LabMxBehaviour>; port?: number }): Promise<LabMx>;

/** Whether Postfix is installed (the `postfix` and `postqueue` commands; Debian `postfix`). */
export function postfixAvailable(): boolean;

/** How a port of the Postfix MX behaves: the certificate it serves, no STARTTLS, TLS 1.0 only, closing after EHLO. */
export type PostfixMxBehaviour = 'valid' | 'wrongName' | 'selfSigned' | 'untrusted' | 'expired' | 'noStarttls' | 'tls10' | 'closeAfterEhlo';

/** A receiving Postfix MX, one port per behaviour (js/lab/postfix.js). */
export function startPostfixMx(options: {
  lab: Lab;
  domains: string[];
  users?: string[];
  /** Behaviours to listen for, each on a port (0: a free one); default all. */
  listeners?: Partial<Record<PostfixMxBehaviour, number>>;
  main?: Record<string, string>;
  ipv6?: boolean;
  hostName?: string;
  keep?: boolean;
}): Promise<{
  /** One port per behaviour listened on. */
  ports: Partial<Record<PostfixMxBehaviour, number>>;
  /** The loopback addresses listened on (127.0.0.1, and ::1 when it exists). */
  hosts: string[];
  /** The certificate each behaviour serves. */
  certs: Record<string, LabCertificate>;
  /** The MX host names the certificates cover. */
  names: string[];
  dir: string;
  maildir(domain: string, user: string): string;
  /** Every delivered message: `{ domain, user, to, file, subject, text }`. */
  messages(): Array<{ domain: string; user: string; to: string | null; file: string; subject: string | null; text: string } & Record<string, unknown>>;
  waitForMessages(n: number | ((messages: Array<Record<string, unknown>>) => boolean), options?: { timeoutMs?: number }): Promise<Array<Record<string, unknown>>>;
  maillog(): string;
  replaceCertificate(behaviour: PostfixMxBehaviour, cert: LabCertificate): Promise<void>;
  stop(): Promise<void>;
}>;

/** A message handed to a lab MTA: built from the fields, or `raw` as it is. */
export interface LabMessage {
  from: string;
  to: string | string[];
  subject?: string;
  text?: string;
  raw?: string;
}

/** A sending Postfix (relayhost, or smtp_tls_policy_maps through `main`). */
export function startPostfixSender(options?: {
  relayhost?: string;
  port?: number;
  main?: Record<string, string>;
  ipv6?: boolean;
  hostName?: string;
  keep?: boolean;
}): Promise<{
  port: number;
  dir: string;
  send(message: LabMessage): Promise<unknown>;
  queue(): Promise<Array<{ queue_name: string; queue_id: string; sender: string; recipients: Array<{ address: string; delay_reason?: string }> }>>;
  flush(): Promise<unknown>;
  waitForEmptyQueue(options?: { timeoutMs?: number }): Promise<void>;
  maillog(): string;
  stop(): Promise<void>;
}>;

/** Why Exim cannot run here, or null. */
export function eximMissing(): string | null;
/** The parts of an Exim configuration that hand mail to `mtasts relay`, section by section (README "mtasts relay"). */
export function eximRelayRecipe(options?: { relay?: string; bypassDomains?: string[]; multiDomain?: boolean }): { main: string; router: string; transport: string; retry: string };
/** A whole exim.conf for the lab. */
export function eximConfig(options: {
  dir: string;
  relay: string;
  localDomains: string[];
  bypassDomains?: string[];
  bypassRoute?: string | null;
  hostName?: string;
  multiDomain?: boolean;
}): string;
/** Exim as the local MTA in front of the relay. */
export function startExim(options: {
  relay: { host: string; port: number };
  localDomains?: string[];
  bypassDomains?: string[];
  bypass?: { host: string; port: number } | null;
  hostName?: string;
  multiDomain?: boolean;
  keep?: boolean;
  readyMs?: number;
}): Promise<{
  dir: string;
  port: number;
  configFile: string;
  config: string;
  mainlog(): string;
  paniclog(): string;
  send(message: LabMessage): Promise<{ id: string }>;
  queue(): Promise<Array<{ id: string; sender: string; frozen: boolean; recipients: string[] }>>;
  stop(): Promise<void>;
} & Record<string, unknown>>;

/** The survey category a world domain must land in, and its policy mode. */
export interface WorldExpectation {
  category: string;
  mode: 'enforce' | 'testing' | 'none' | null;
  maxAge?: number | null;
  tlsrpt?: unknown;
}

/** The kinds of domain a world is made of, by name (`no-record`, `record-invalid`, `policy-404`, ...). */
export const WORLD_KINDS: Readonly<Record<string, { category: string; mode: string | null; cert?: string; build(domain: string): Partial<LabScenario> }>>;

/** The domains of a world, without starting it. `prefix` names them `<prefix>00001.test` .... */
export function generateWorld(options: { domains: number; mix?: string; seed?: number; prefix?: string; probe?: boolean }): Array<{
  domain: string;
  kind: string;
  state: LabScenario;
  expect: WorldExpectation;
}>;

/** A world of many domains on loopback (surveys, benchmarks; `mtasts lab world`). */
export function startWorld(options: {
  domains: number;
  mix?: string;
  seed?: number;
  probe?: boolean;
  host?: string;
  prefix?: string;
  dnsPort?: number;
  httpsPort?: number;
}): Promise<{
  domains: Array<{ domain: string; kind: string; expect: WorldExpectation }>;
  expected(): { total: number; category: Record<string, number>; mode: Record<string, number>; tlsrpt: Record<string, number> };
  dns: { host: string; port: number; server: string };
  policyPort: number;
  smtpPort: number | null;
  caPem: string;
  certificatesMade(): number;
  stop(): Promise<void>;
}>;
