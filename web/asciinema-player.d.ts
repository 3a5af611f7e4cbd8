/** The global asciinema-player's bundle defines (served at /assets/asciinema-player/asciinema-player.min.js). */
interface AsciinemaPlayerInstance {
  el: HTMLElement;
  dispose(): void;
  play(): Promise<boolean | void>;
  getDuration(): number | undefined;
}

interface AsciinemaPlayerOptions {
  fit?: 'width' | 'height' | 'both' | 'none' | false;
  idleTimeLimit?: number;
  poster?: string;
  autoPlay?: boolean;
  preload?: boolean;
  terminalFontSize?: string;
  rows?: number;
  cols?: number;
  controls?: boolean | 'auto';
  keystrokeOverlay?: boolean;
}

declare const AsciinemaPlayer: {
  create(src: string | { url: string; fetchOpts?: RequestInit } | { data: string }, element: HTMLElement, options?: AsciinemaPlayerOptions): AsciinemaPlayerInstance;
};
