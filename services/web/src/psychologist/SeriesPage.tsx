import { Page } from "../ui/Layout";

export function SeriesPage(props: { parent: string; zone: string }) {
  return <Page title="Weekly series"><p>Coming next ({props.zone}).</p></Page>;
}
