/** Entry point: connect to the Rust side (or the development mock) and render the app. */

import { render } from "preact";
import { App } from "./app";
import { connectBridge } from "./bridge";
import "./styles.css";

const root = document.getElementById("app");
if (root) {
  connectBridge().then(
    (bridge) => render(<App bridge={bridge} />, root),
    (e: unknown) => {
      root.textContent = String(e);
    },
  );
}
