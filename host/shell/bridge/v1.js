// Placeholder until the bridge client lands: names the bridge version only.
window.superapp = window.superapp || { version: 1 };
