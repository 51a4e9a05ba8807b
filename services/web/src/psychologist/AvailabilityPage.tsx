import { Page } from "../ui/Layout";

export function AvailabilityPage(props: { parent: string; zone: string }) {
  return <Page title="Availability"><p>Coming next ({props.zone}).</p></Page>;
}
