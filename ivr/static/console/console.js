// The console's only script: a "Listen" button that reads the call's last words aloud
// with the browser's own en-GB speech, and keeps the newest transcript lines in view.
"use strict";

function lastSaid(transcript) {
  const lines = Array.from(transcript.querySelectorAll("li"));
  let start = lines.length;
  while (start > 0 && lines[start - 1].dataset.who !== "caller") {
    start -= 1;
  }
  return lines.slice(start).filter((li) => li.dataset.who === "line")
    .map((li) => li.querySelector(".text").textContent).join(" ");
}

function setUpListen() {
  const button = document.getElementById("listen");
  const transcript = document.getElementById("call-transcript");
  if (!button || !transcript || !("speechSynthesis" in window)) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", () => {
    const words = lastSaid(transcript);
    if (!words) {
      return;
    }
    window.speechSynthesis.cancel();
    const utterance = new SpeechSynthesisUtterance(words);
    utterance.lang = "en-GB";
    const voice = window.speechSynthesis.getVoices().find((v) => v.lang === "en-GB");
    if (voice) {
      utterance.voice = voice;
    }
    window.speechSynthesis.speak(utterance);
  });
}

function scrollTranscripts() {
  document.querySelectorAll(".transcript").forEach((list) => {
    list.scrollTop = list.scrollHeight;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpListen();
  scrollTranscripts();
});
