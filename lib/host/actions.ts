/** What configure-build does to reach the plan, one action per printed line. */
import type { PlannedFile } from "./plan.js";
import type { UserStateDirs } from "./render.js";
import { formatCommand } from "../os/run.js";

export type HostAction =
  | { readonly kind: "create-group"; readonly group: string; readonly commands: readonly (readonly string[])[] }
  | { readonly kind: "create-user"; readonly user: string; readonly commands: readonly (readonly string[])[] }
  | { readonly kind: "update-user"; readonly user: string; readonly changes: readonly string[]; readonly commands: readonly (readonly string[])[] }
  | {
      readonly kind: "ensure-home";
      readonly user: string;
      /** The staging root of the plan ("" on the live system). */
      readonly root: string;
      /** Whose account database holds the user: "" the live system's, else the staged tree's below this root. */
      readonly accountsRoot: string;
      /** The home as staged (where it is made). */
      readonly path: string;
      readonly change: string;
      readonly stateDirs: UserStateDirs;
    }
  | { readonly kind: "write-file"; readonly file: PlannedFile; readonly change: string }
  /** A directory owned by `owner` (a user that exists by the time this runs) with exactly `mode`. */
  /** A directory owned by `owner`, whose account is in the live database ("") or in the one below `accountsRoot`. */
  | { readonly kind: "ensure-dir"; readonly path: string; readonly owner: string; readonly accountsRoot: string; readonly mode: number; readonly change: string }
  | { readonly kind: "remove-file"; readonly path: string; readonly why: string };

export function describeAction(action: HostAction): string {
  switch (action.kind) {
    case "create-group":
      return `create group ${action.group}: ${action.commands.map(formatCommand).join(" && ")}`;
    case "create-user":
      return `create user ${action.user}: ${action.commands.map(formatCommand).join(" && ")}`;
    case "update-user":
      return `update user ${action.user} (${action.changes.join(", ")}): ${action.commands.map(formatCommand).join(" && ")}`;
    case "ensure-home":
      return `${action.change} home ${action.path}`;
    case "write-file":
      return `${action.change} ${action.file.path}`;
    case "ensure-dir":
      return `${action.change} directory ${action.path} (${action.owner} ${action.mode.toString(8).padStart(4, "0")})`;
    case "remove-file":
      return `remove ${action.path} (${action.why})`;
  }
}
