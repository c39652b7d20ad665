import { describe, expect, it } from "vitest";
import { subscriptionList } from "./subscriptions";

describe("video subscriptions", () => {
  it("lists visible remote tiles only, at their largest size", () => {
    const list = subscriptionList(
      [
        { trackSid: "TR_b", width: 320, height: 180, visible: true },
        { trackSid: "TR_a", width: 640.4, height: 360, visible: true },
        { trackSid: "TR_a", width: 160, height: 90, visible: true },
        { trackSid: "TR_off", width: 640, height: 360, visible: false },
        { trackSid: "TR_zero", width: 0, height: 0, visible: true },
        { trackSid: "local-camera", width: 640, height: 360, visible: true },
      ],
      false,
    );
    expect(list).toEqual([
      { trackSid: "TR_a", width: 640, height: 360 },
      { trackSid: "TR_b", width: 320, height: 180 },
    ]);
  });
  it("asks for nothing while the window is hidden", () => {
    expect(subscriptionList([{ trackSid: "TR_a", width: 640, height: 360, visible: true }], true)).toEqual([]);
  });
});
