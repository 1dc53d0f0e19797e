import type { DpMask } from "./labelmap";

export interface PartInfo {
  label: number;
  name: string;
  color: [number, number, number];
}

export interface Config {
  mode: "annotate" | "review";
  user: string;
  projects: { name: string; paused: boolean; body_model: string; synthetic: boolean }[];
  parts: PartInfo[];
  charts: string[];
  urls: { next: string; draft: string; submit: string; review_next: string; review: string };
  autosave_ms: number;
}

export interface SampledPoint {
  id: number;
  part: number;
  order: number;
  box_x: number;
  box_y: number;
}

export interface Answer {
  point: number;
  status: "ok" | "not_visible" | "unsure";
  view?: number;
  x?: number;
  y?: number;
}

export interface Task {
  id: number;
  project: string;
  stage: 1 | 2;
  state: string;
  lease_expires_at: string | null;
  review_comment: string;
  draft: { dp_masks?: DpMask[]; answers?: Answer[]; current?: number } | null;
  person: { id: number; bbox: [number, number, number, number]; image: { id: number; width: number; height: number; url: string } };
  expected_parts?: number[];
  points?: SampledPoint[];
  body?: { name: string; key: string; bundle_url: string; picture_url: string } | null;
  submission?: { dp_masks?: DpMask[]; answers?: Answer[] } | null;
}

/** What an editor hands back to the shell. */
export interface Editor {
  start(): Promise<void>;
  /** Whether the work may be submitted; asks the annotator (warnings) or says what is missing. */
  check(): Promise<boolean>;
  /** The data to submit. */
  result(): unknown;
  setErrorHandler(handler: (error: unknown) => void): void;
  /** Save the draft now (before submitting or leaving). */
  flush(): Promise<void>;
  destroy(): void;
}
