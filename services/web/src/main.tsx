import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { loadConfig } from "./config";
import "./styles.css";

const root = createRoot(document.getElementById("root") as HTMLElement);

loadConfig().then(
  (config) => {
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    );
  },
  () => {
    root.render(
      <main className="page" id="main">
        <h1>We cannot open the app right now</h1>
        <p role="alert">The app could not load its settings. Please reload the page in a minute.</p>
      </main>,
    );
  },
);
